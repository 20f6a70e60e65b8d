import { parentPort, workerData } from 'node:worker_threads';
import { runNodeSeeds, type NodeSeedsOptions } from './seeds.js';

parentPort!.postMessage(await runNodeSeeds(workerData as NodeSeedsOptions));
