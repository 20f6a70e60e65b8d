import { posix } from 'node:path';
import type { RandomSource } from '../../src/raft/index.js';
import type { FileHandle, FileStats, FileSystem } from '../../src/storage/file-system.js';
import { BATCH_PREFIX_BYTES } from '../../src/storage/record.js';
import { SEGMENT_HEADER_BYTES } from '../../src/storage/segment-file.js';
import type { VirtualTime } from './virtual-time.js';

/**
 * The disk faults the simulator can inject, each switchable on its own:
 * - `latency`: an operation completes after a few virtual milliseconds instead of at once;
 * - `torn`: a crash keeps a seeded prefix of the writes not yet fdatasynced, the last one cut
 *   at a sector boundary (the torn tail a real power loss leaves);
 * - `lostWrites`: a crash also drops writes from the middle of that unsynced run (the page
 *   cache writes back out of order), leaving a hole before data that survived;
 * - `eio`: an fdatasync fails with EIO: the writes it covered never reach the disk, not even
 *   with a later fdatasync that succeeds, though reads still see them until a crash (Linux
 *   marks their pages clean);
 * - `enospc`: for a while every write fails with ENOSPC (the disk is full), then space frees;
 * - `bitflip`: one bit of fsynced data flips (at a crash: the node finds it when it reopens).
 *   In a segment, half the flips aim at one batch (the last one half the time), and half of
 *   those at its length field: a batch's length and the file's last batch are where recovery
 *   tells damage from a torn tail, and a uniform byte seldom lands there.
 */
export type DiskFaultKind = 'latency' | 'torn' | 'lostWrites' | 'eio' | 'enospc' | 'bitflip';
export const DISK_FAULT_KINDS: readonly DiskFaultKind[] = ['latency', 'torn', 'lostWrites', 'eio', 'enospc', 'bitflip'];

export interface DiskFaultRates {
  /** Per operation: chance it is slow, and the longest delay, virtual ms. */
  latency: number;
  maxLatencyMs: number;
  /** Per crash: chance the kept unsynced prefix ends in a torn write. */
  torn: number;
  /** Per crash: chance unsynced writes are dropped from the middle too. */
  lostWrites: number;
  /** Per fdatasync: chance it fails with EIO. */
  eio: number;
  /** Per write: chance the disk is full from now on for `enospcMs`. */
  enospc: number;
  enospcMs: number;
  /** Per crash: chance one bit of durable data flips. */
  bitflip: number;
  /** Per crash, with `lostTail` on (cluster.ts): chance the newest segment loses its fdatasynced end. */
  lostTail: number;
}

export const DEFAULT_DISK_RATES: DiskFaultRates = {
  latency: 0.05,
  maxLatencyMs: 8,
  torn: 0.5,
  lostWrites: 0.3,
  eio: 0.002,
  enospc: 0.001,
  enospcMs: 200,
  bitflip: 0.3,
  lostTail: 0.3,
};

/**
 * Files whose bits never flip. The LOCK holds a pid, not data: a flipped one names another
 * process, which the node takes over when that pid is dead and refuses (LogLockedError, for an
 * operator) when it is alive, and that depends on the host's process table, not the seed.
 */
const NOT_FLIPPED: ReadonlySet<string> = new Set(['LOCK']);
/**
 * Files whose damage a node cannot repair alone, and reports at open naming them: its Raft
 * term and vote, and where retention cut its log (see `crash`'s `spareUnrepairable`).
 */
export const UNREPAIRABLE_FILES: ReadonlySet<string> = new Set(['raft-state', 'log-start']);
/** Share of a segment's flips aimed at one batch (see `bitflip`). */
const AIMED_SEGMENT_FLIP_SHARE = 0.5;
const BATCH_LENGTH_BYTES = 4;

/** A disk writes whole sectors atomically: a torn write ends at a sector boundary. */
const SECTOR_BYTES = 512;

/** A change not yet fdatasynced; `failed` once an fdatasync covering it failed: it never reaches the disk. */
type UnsyncedOp = ({ kind: 'write'; offset: number; bytes: Buffer } | { kind: 'truncate'; length: number }) & {
  failed?: boolean;
};

/** `file` with `op` applied (a new buffer when it grows or shrinks). */
function applyOp(file: Buffer, op: UnsyncedOp, bytes = op.kind === 'write' ? op.bytes : undefined): Buffer {
  if (op.kind === 'truncate') {
    const next = Buffer.alloc(op.length);
    file.copy(next, 0, 0, Math.min(op.length, file.length));
    return next;
  }
  const end = op.offset + bytes!.length;
  let out = file;
  if (end > file.length) {
    out = Buffer.alloc(end);
    file.copy(out);
  }
  bytes!.copy(out, op.offset);
  return out;
}

/**
 * A file's contents: what reads see now (`data`), what the last fdatasync made durable, and the
 * writes between. The durable bytes are `data`'s first `durableSize` until a write or truncate
 * touches them; only then are they copied aside (segments are appended to, so they rarely are).
 */
class Inode {
  private buf: Buffer = Buffer.alloc(0);
  size = 0;
  private durableSize = 0;
  /** The durable bytes, once `data` no longer holds them as its prefix. */
  private durableCopy: Buffer | undefined;
  unsynced: UnsyncedOp[] = [];

  get data(): Buffer {
    return this.buf.subarray(0, this.size);
  }

  get durable(): Buffer {
    return this.durableCopy ?? this.buf.subarray(0, this.durableSize);
  }

  write(bytes: Buffer, offset: number): void {
    if (offset < this.durableSize) this.keepDurable();
    const end = offset + bytes.length;
    if (end > this.buf.length) {
      const grown = Buffer.alloc(Math.max(end, this.buf.length * 2, 4096));
      this.buf.copy(grown, 0, 0, this.size);
      this.buf = grown;
    }
    if (offset > this.size) this.buf.fill(0, this.size, offset);
    bytes.copy(this.buf, offset);
    this.size = Math.max(this.size, end);
    this.unsynced.push({ kind: 'write', offset, bytes: Buffer.from(bytes) });
  }

  truncate(length: number): void {
    if (length < this.durableSize) this.keepDurable();
    if (length > this.buf.length) {
      const grown = Buffer.alloc(length);
      this.buf.copy(grown, 0, 0, this.size);
      this.buf = grown;
    } else if (length > this.size) this.buf.fill(0, this.size, length);
    this.size = length;
    this.unsynced.push({ kind: 'truncate', length });
  }

  sync(): void {
    if (this.unsynced.some((op) => op.failed)) {
      // What a failed fdatasync covered is gone from the disk even though reads still see it.
      let image: Buffer = Buffer.from(this.durable);
      for (const op of this.unsynced) if (!op.failed) image = applyOp(image, op);
      this.durableCopy = image;
      this.durableSize = image.length;
    } else {
      this.durableCopy = undefined;
      this.durableSize = this.size;
    }
    this.unsynced = [];
  }

  /** An fdatasync failed: the writes it covered never reach the disk (Linux marks their pages clean). */
  failSync(): void {
    for (const op of this.unsynced) op.failed = true;
  }

  /** Replaces the contents (after a crash): these bytes, all durable. */
  reset(bytes: Buffer): void {
    this.buf = bytes;
    this.size = bytes.length;
    this.sync();
  }

  private keepDurable(): void {
    this.durableCopy ??= Buffer.from(this.buf.subarray(0, this.durableSize));
  }
}

type Entry = { kind: 'dir' } | { kind: 'file'; inode: Inode };

export interface DiskCounts {
  latency: number;
  torn: number;
  lostWrites: number;
  eio: number;
  enospc: number;
  bitflip: number;
  /** Writes dropped or cut by crashes, of any kind. */
  unsyncedLost: number;
}

/**
 * One node's disk: a namespace of directories and files, in memory. A write reaches the page
 * cache at once (reads see it) and the disk only at the fdatasync/fsync of its file; a new,
 * renamed or removed directory entry only at the fsync of its parent directory. `crash()` is a
 * power loss: the namespace returns to its durable entries and each file to its durable
 * contents plus a seeded prefix of its unsynced writes (a torn, lost or flipped one per the
 * faults switched on). A crash also ends the process that had the disk mounted: every call it
 * made that has not completed never does, and every later one never completes either.
 */
export class SimDisk {
  private current = new Map<string, Entry>([['/', { kind: 'dir' }]]);
  private durable = new Map<string, Entry>([['/', { kind: 'dir' }]]);
  private generation = 0;
  private fullUntil = -1;
  /** When the last delayed operation completes (operations complete in the order they were issued). */
  private queueEnd = 0;
  readonly counts: DiskCounts = { latency: 0, torn: 0, lostWrites: 0, eio: 0, enospc: 0, bitflip: 0, unsyncedLost: 0 };

  constructor(
    private readonly time: VirtualTime,
    private readonly random: RandomSource & { float(): number },
    private readonly enabled: ReadonlySet<DiskFaultKind>,
    private readonly rates: DiskFaultRates,
    /** Timer owner of the process that mounts the disk (its pending completions die with it). */
    private readonly owner: () => number,
  ) {}

  /** The file system as the process running now sees it. */
  mount(): FileSystem {
    return new MountedDisk(this, this.generation);
  }

  /**
   * A power loss (see the class comment); `mayFlip`: the nemesis lets a bit of this disk flip
   * now (`spareUnrepairable`: not in one of UNREPAIRABLE_FILES). Returns where a bit flipped, if one did.
   */
  crash(mayFlip = true, spareUnrepairable = false): string | undefined {
    this.lastFlip = undefined;
    // Lost writes can leave damage open cuts (a hole with data after it): like a flip, only
    // where the nemesis lets this disk be damaged, so recovering nodes stay a minority.
    this.mayLoseWrites = mayFlip;
    this.lostWritesAtLastCrash = false;
    this.generation++;
    const next = new Map<string, Entry>();
    const done = new Set<Inode>();
    for (const [path, entry] of this.durable) {
      next.set(path, entry);
      if (entry.kind === 'file' && !done.has(entry.inode)) {
        done.add(entry.inode);
        this.survive(entry.inode);
      }
    }
    this.current = next;
    this.durable = new Map(next);
    this.fullUntil = -1;
    this.queueEnd = 0;
    if (this.on('bitflip') && mayFlip && this.random.float() < this.rates.bitflip) {
      const flip = this.flipDurableBit(spareUnrepairable);
      if (flip) {
        this.counts.bitflip++;
        this.lastFlip = flip;
      }
    }
    return this.lastFlip;
  }

  /**
   * The fdatasynced bytes of every file whose directory entry is durable, by path: taken just
   * before a crash, what the disk keeps (but for a flipped bit).
   */
  durableFiles(): Map<string, Buffer> {
    const files = new Map<string, Buffer>();
    for (const [path, entry] of this.durable) if (entry.kind === 'file') files.set(path, entry.inode.durable);
    return files;
  }

  /** A disk whose cache lied about fdatasync: after a crash, `path` keeps only its first `length` bytes. */
  loseTail(path: string, length: number): void {
    const entry = this.current.get(path);
    if (entry?.kind === 'file') entry.inode.reset(Buffer.from(entry.inode.data.subarray(0, length)));
  }

  /** The size of `path` as reads see it now, or undefined when there is no such file. */
  sizeOf(path: string): number | undefined {
    const entry = this.current.get(path);
    return entry?.kind === 'file' ? entry.inode.size : undefined;
  }

  /** The last bit flipped (file and region), for the trace. */
  lastFlip: string | undefined;
  /** Whether the last crash dropped writes from the middle of an unsynced run. */
  lostWritesAtLastCrash = false;
  private mayLoseWrites = true;

  /** What of a file's unsynced writes survives the power loss. */
  private survive(inode: Inode): void {
    const ops = inode.unsynced;
    const kept = ops.length === 0 ? 0 : this.random.int(ops.length + 1);
    let file: Buffer = Buffer.from(inode.durable);
    const drop = this.on('lostWrites') && kept > 1 && this.random.float() < this.rates.lostWrites && this.mayLoseWrites;
    if (drop) this.counts.lostWrites++;
    if (drop) this.lostWritesAtLastCrash = true;
    for (let i = 0; i < kept; i++) {
      const op = ops[i]!;
      if (op.failed || (drop && i < kept - 1 && this.random.int(3) === 0)) continue;
      let bytes = op.kind === 'write' ? op.bytes : undefined;
      if (op.kind === 'write' && i === kept - 1 && this.on('torn') && this.random.float() < this.rates.torn) {
        bytes = op.bytes.subarray(0, this.tornLength(op.offset, op.bytes.length));
        this.counts.torn++;
      }
      file = applyOp(file, op, bytes);
    }
    if (kept < ops.length) this.counts.unsyncedLost += ops.length - kept;
    inode.reset(file);
  }

  /** How much of a write at `offset` a power loss keeps: whole sectors (a sector is written whole or not at all). */
  private tornLength(offset: number, length: number): number {
    const firstBoundary = Math.ceil((offset + 1) / SECTOR_BYTES) * SECTOR_BYTES;
    const cuts = [0];
    for (let at = firstBoundary; at < offset + length; at += SECTOR_BYTES) cuts.push(at - offset);
    return cuts[this.random.int(cuts.length)]!;
  }

  /** Flips one bit of one durable file with data; says where, or undefined when there is none. */
  private flipDurableBit(spareUnrepairable: boolean): string | undefined {
    const files = [...this.durable.entries()].filter(
      (e): e is [string, { kind: 'file'; inode: Inode }] =>
        e[1].kind === 'file' &&
        e[1].inode.data.length > 0 &&
        !NOT_FLIPPED.has(posix.basename(e[0])) &&
        !(spareUnrepairable && UNREPAIRABLE_FILES.has(posix.basename(e[0]))),
    );
    const chosen = files[files.length === 0 ? 0 : this.random.int(files.length)];
    if (!chosen) return undefined;
    const inode = chosen[1].inode;
    const at = this.flipOffset(chosen[0], inode.data);
    const flipped = Buffer.from(inode.data);
    flipped[at]! ^= 1 << this.random.int(8);
    inode.reset(flipped);
    return `${chosen[0]}@${at}/${inode.data.length}`;
  }

  /** The byte a flip hits in `path` (see `bitflip`). */
  private flipOffset(path: string, data: Buffer): number {
    if (!path.endsWith('.seg') || this.random.float() >= AIMED_SEGMENT_FLIP_SHARE) return this.random.int(data.length);
    const batches = batchStarts(data);
    if (batches.length === 0) return this.random.int(data.length);
    const k = this.random.int(2) === 0 ? batches.length - 1 : this.random.int(batches.length);
    const start = batches[k]!;
    const end = batches[k + 1] ?? data.length;
    return start + this.random.int(this.random.int(2) === 0 ? BATCH_LENGTH_BYTES : end - start);
  }

  on(kind: DiskFaultKind): boolean {
    return this.enabled.has(kind);
  }

  // ---- operations, for MountedDisk and its handles ----

  /** Completes an operation of generation `gen`: never, if that process crashed; else now or a little later. */
  complete<T>(gen: number, effect: () => T): Promise<T> {
    if (gen !== this.generation) return new Promise<T>(() => undefined);
    let delay = 0;
    if (this.on('latency') && this.random.float() < this.rates.latency) {
      this.counts.latency++;
      delay = 1 + this.random.int(this.rates.maxLatencyMs);
    }
    // One queue per disk: an operation never completes before one issued earlier.
    const at = Math.max(this.queueEnd, this.time.now + delay);
    if (at <= this.time.now) {
      try {
        return Promise.resolve(effect());
      } catch (error) {
        return Promise.reject(error);
      }
    }
    this.queueEnd = at;
    return new Promise<T>((resolve, reject) => {
      this.time.after(
        at - this.time.now,
        () => {
          if (gen !== this.generation) return;
          try {
            resolve(effect());
          } catch (error) {
            reject(error);
          }
        },
        this.owner(),
      );
    });
  }

  lookup(path: string): Entry | undefined {
    return this.current.get(path);
  }

  setEntry(path: string, entry: Entry): void {
    const parent = this.current.get(posix.dirname(path));
    if (parent?.kind !== 'dir') throw fsError('ENOENT', 'open', path);
    this.current.set(path, entry);
  }

  deleteEntry(path: string): void {
    this.current.delete(path);
  }

  children(dir: string): string[] {
    const names: string[] = [];
    for (const path of this.current.keys())
      if (path !== '/' && posix.dirname(path) === dir) names.push(posix.basename(path));
    return names.sort();
  }

  /** fsync of a directory: its entries as they are now become durable. */
  syncDirectory(dir: string): void {
    for (const path of [...this.durable.keys()])
      if (path !== '/' && posix.dirname(path) === dir && !this.current.has(path)) this.durable.delete(path);
    for (const [path, entry] of this.current)
      if (path !== '/' && posix.dirname(path) === dir) this.durable.set(path, entry);
  }

  /** A write: fails with ENOSPC while the disk is full (and sometimes starts a full spell). */
  checkSpace(path: string): void {
    if (!this.on('enospc')) return;
    if (this.time.now >= this.fullUntil && this.random.float() < this.rates.enospc) {
      this.fullUntil = this.time.now + this.rates.enospcMs;
      this.counts.enospc++;
    }
    if (this.time.now < this.fullUntil) throw fsError('ENOSPC', 'write', path);
  }

  /** fdatasync: durable, or EIO. */
  datasync(inode: Inode, path: string): void {
    if (this.on('eio') && this.random.float() < this.rates.eio) {
      this.counts.eio++;
      inode.failSync();
      throw fsError('EIO', 'fdatasync', path);
    }
    inode.sync();
  }

  newInode(): Inode {
    return new Inode();
  }
}

export type { Inode };

function fsError(code: string, syscall: string, path: string): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(`${code}: simulated ${syscall} '${path}'`);
  error.code = code;
  error.syscall = syscall;
  error.path = path;
  return error;
}

function normal(path: string): string {
  return posix.resolve('/', path);
}

/** The FileSystem one process sees; after a crash of its disk none of its calls completes. */
class MountedDisk implements FileSystem {
  constructor(
    private readonly disk: SimDisk,
    private readonly gen: number,
  ) {}

  open(raw: string, flags: string): Promise<FileHandle> {
    const path = normal(raw);
    return this.disk.complete(this.gen, () => {
      const entry = this.disk.lookup(path);
      if (flags === 'r' || flags === 'r+') {
        if (!entry) throw fsError('ENOENT', 'open', path);
        if (entry.kind === 'dir' && flags === 'r+') throw fsError('EISDIR', 'open', path);
        return new SimHandle(this.disk, this.gen, path, entry.kind === 'file' ? entry.inode : undefined);
      }
      if (flags !== 'w' && flags !== 'wx') throw new Error(`simulated disk: open flags '${flags}' not modelled`);
      if (entry && flags === 'wx') throw fsError('EEXIST', 'open', path);
      if (entry?.kind === 'dir') throw fsError('EISDIR', 'open', path);
      let inode: Inode;
      if (entry) {
        inode = entry.inode;
        if (inode.data.length > 0) inode.truncate(0);
      } else {
        inode = this.disk.newInode();
        this.disk.setEntry(path, { kind: 'file', inode });
      }
      return new SimHandle(this.disk, this.gen, path, inode);
    });
  }

  mkdir(raw: string): Promise<string | undefined> {
    const path = normal(raw);
    return this.disk.complete(this.gen, () => {
      const missing: string[] = [];
      for (let at = path; ; at = posix.dirname(at)) {
        const entry = this.disk.lookup(at);
        if (entry?.kind === 'file') throw fsError('EEXIST', 'mkdir', at);
        if (entry) break;
        missing.push(at);
      }
      missing.reverse();
      for (const dir of missing) this.disk.setEntry(dir, { kind: 'dir' });
      return missing[0];
    });
  }

  readdir(raw: string): Promise<string[]> {
    const path = normal(raw);
    return this.disk.complete(this.gen, () => {
      const entry = this.disk.lookup(path);
      if (!entry) throw fsError('ENOENT', 'scandir', path);
      if (entry.kind !== 'dir') throw fsError('ENOTDIR', 'scandir', path);
      return this.disk.children(path);
    });
  }

  readFile(raw: string): Promise<Buffer> {
    const path = normal(raw);
    return this.disk.complete(this.gen, () => {
      const entry = this.disk.lookup(path);
      if (!entry) throw fsError('ENOENT', 'open', path);
      if (entry.kind !== 'file') throw fsError('EISDIR', 'read', path);
      return Buffer.from(entry.inode.data);
    });
  }

  rename(rawFrom: string, rawTo: string): Promise<void> {
    const from = normal(rawFrom);
    const to = normal(rawTo);
    return this.disk.complete(this.gen, () => {
      const entry = this.disk.lookup(from);
      if (!entry) throw fsError('ENOENT', 'rename', from);
      if (entry.kind !== 'file') throw new Error(`simulated disk: renaming directory '${from}' not modelled`);
      this.disk.setEntry(to, entry);
      this.disk.deleteEntry(from);
    });
  }

  unlink(raw: string): Promise<void> {
    const path = normal(raw);
    return this.disk.complete(this.gen, () => {
      const entry = this.disk.lookup(path);
      if (!entry) throw fsError('ENOENT', 'unlink', path);
      if (entry.kind === 'dir') throw fsError('EISDIR', 'unlink', path);
      this.disk.deleteEntry(path);
    });
  }

  rm(raw: string): Promise<void> {
    const path = normal(raw);
    return this.disk.complete(this.gen, () => {
      const entry = this.disk.lookup(path);
      if (entry?.kind === 'dir') for (const name of this.disk.children(path)) this.removeTree(posix.join(path, name));
      this.disk.deleteEntry(path);
    });
  }

  private removeTree(path: string): void {
    if (this.disk.lookup(path)?.kind === 'dir')
      for (const name of this.disk.children(path)) this.removeTree(posix.join(path, name));
    this.disk.deleteEntry(path);
  }

  stat(raw: string): Promise<FileStats> {
    const path = normal(raw);
    return this.disk.complete(this.gen, () => {
      const entry = this.disk.lookup(path);
      if (!entry) throw fsError('ENOENT', 'stat', path);
      return { size: entry.kind === 'file' ? entry.inode.data.length : 4096 };
    });
  }
}

/** An open file (or directory, for its fsync). */
class SimHandle implements FileHandle {
  private position = 0;
  private closed = false;

  constructor(
    private readonly disk: SimDisk,
    private readonly gen: number,
    private readonly path: string,
    private readonly inode: Inode | undefined,
  ) {}

  private file(syscall: string): Inode {
    if (this.closed) throw fsError('EBADF', syscall, this.path);
    if (!this.inode) throw fsError('EISDIR', syscall, this.path);
    return this.inode;
  }

  read(buffer: Buffer, offset: number, length: number, position: number | null): Promise<{ bytesRead: number }> {
    return this.disk.complete(this.gen, () => {
      const inode = this.file('read');
      const at = position ?? this.position;
      const bytesRead = Math.max(0, Math.min(length, inode.data.length - at));
      if (bytesRead > 0) inode.data.copy(buffer, offset, at, at + bytesRead);
      if (position === null) this.position += bytesRead;
      return { bytesRead };
    });
  }

  write(buffer: Uint8Array, offset = 0, length?: number, position?: number): Promise<{ bytesWritten: number }> {
    return this.disk.complete(this.gen, () => {
      const inode = this.file('write');
      this.disk.checkSpace(this.path);
      const n = length ?? buffer.byteLength - offset;
      const bytes = Buffer.from(buffer.buffer, buffer.byteOffset + offset, n);
      const at = position ?? this.position;
      inode.write(bytes, at);
      if (position === undefined) this.position += n;
      return { bytesWritten: n };
    });
  }

  writev(buffers: Buffer[], position: number): Promise<{ bytesWritten: number }> {
    return this.disk.complete(this.gen, () => {
      const inode = this.file('writev');
      this.disk.checkSpace(this.path);
      const bytes = Buffer.concat(buffers);
      inode.write(bytes, position);
      return { bytesWritten: bytes.length };
    });
  }

  writeFile(data: string): Promise<void> {
    return this.disk.complete(this.gen, () => {
      const inode = this.file('write');
      this.disk.checkSpace(this.path);
      inode.truncate(0);
      inode.write(Buffer.from(data, 'utf8'), 0);
    });
  }

  datasync(): Promise<void> {
    return this.disk.complete(this.gen, () => this.disk.datasync(this.file('fdatasync'), this.path));
  }

  sync(): Promise<void> {
    return this.disk.complete(this.gen, () => {
      if (this.closed) throw fsError('EBADF', 'fsync', this.path);
      if (this.inode) this.disk.datasync(this.inode, this.path);
      else this.disk.syncDirectory(this.path);
    });
  }

  truncate(length: number): Promise<void> {
    return this.disk.complete(this.gen, () => this.file('ftruncate').truncate(length));
  }

  close(): Promise<void> {
    return this.disk.complete(this.gen, () => {
      this.closed = true;
    });
  }
}

/** Where each batch of a segment file starts, as far as its length fields chain whole batches. */
export function batchStarts(data: Buffer): number[] {
  const starts: number[] = [];
  let at = SEGMENT_HEADER_BYTES;
  while (at + BATCH_PREFIX_BYTES <= data.length) {
    const end = at + BATCH_PREFIX_BYTES + data.readUInt32LE(at);
    if (end <= at + BATCH_PREFIX_BYTES || end > data.length) break;
    starts.push(at);
    at = end;
  }
  return starts;
}
