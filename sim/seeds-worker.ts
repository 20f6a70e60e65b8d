import { parentPort, workerData } from 'node:worker_threads';
import { runSeeds, type SeedsOptions } from './seeds.js';

parentPort!.postMessage(runSeeds(workerData as SeedsOptions));
