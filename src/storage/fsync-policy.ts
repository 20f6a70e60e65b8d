import { InvalidArgumentError, describe } from '../types/errors.js';

/**
 * When an append is acknowledged relative to fdatasync:
 * - `always`: only after the fdatasync that covers it (group commit shares one across appends);
 * - `interval:<ms>`: after the write; an fdatasync runs every <ms> milliseconds;
 * - `never`: after the write; the OS decides when bytes reach the disk.
 */
export type FsyncPolicy = { kind: 'always' } | { kind: 'interval'; ms: number } | { kind: 'never' };

export type FsyncPolicyText = 'always' | 'never' | `interval:${number}`;

export function parseFsyncPolicy(value: unknown): FsyncPolicy {
  if (value === 'always') return { kind: 'always' };
  if (value === 'never') return { kind: 'never' };
  if (typeof value === 'string' && value.startsWith('interval:')) {
    const ms = Number(value.slice('interval:'.length));
    if (Number.isInteger(ms) && ms > 0) return { kind: 'interval', ms };
  }
  throw new InvalidArgumentError(
    `invalid fsync policy ${describe(value)}: expected 'always', 'never' or 'interval:<ms>' with ms an integer > 0`,
  );
}
