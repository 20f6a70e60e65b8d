import { InvalidArgumentError, describe } from './errors.js';

/**
 * Uniqueness claims ("is this e-mail address taken?"): an append may claim values in named sets
 * ("email" → "ada@example.com") and release values it holds. A value is held by one stream at a
 * time; the log checks claims atomically with the append, so a second claim of a held value
 * fails instead of writing a duplicate.
 */
export interface Claim {
  /** The namespace of uniqueness, e.g. `'email'`. */
  set: string;
  value: string;
}

/** An append's claim changes, as the engine applies them: releases first, then claims. */
export interface ClaimChanges {
  readonly claims: readonly Claim[];
  readonly releases: readonly Claim[];
}

export const MAX_CLAIM_SET_BYTES = 255;
export const MAX_CLAIM_VALUE_BYTES = 1024;
/** Claims plus releases of one append part; with the sizes above, its encoding fits a u16 length. */
export const MAX_CLAIM_CHANGES = 32;

const textEncoder = new TextEncoder();
const CLAIM_OP_CLAIM = 1;
const CLAIM_OP_RELEASE = 2;

/** Checks an append's `claims` and `releases`; undefined when it has none. */
export function validateClaimChanges(claims: unknown, releases: unknown): ClaimChanges | undefined {
  const claimed = validateClaimList('claims', claims);
  const released = validateClaimList('releases', releases);
  if (claimed.length + released.length === 0) return undefined;
  if (claimed.length + released.length > MAX_CLAIM_CHANGES) {
    throw new InvalidArgumentError(
      `${claimed.length} claims and ${released.length} releases in` +
        ` one append: expected at most ${MAX_CLAIM_CHANGES} in all`,
    );
  }
  return { claims: claimed, releases: released };
}

function validateClaimList(what: 'claims' | 'releases', list: unknown): Claim[] {
  if (list === undefined) return [];
  if (!Array.isArray(list))
    throw new InvalidArgumentError(`invalid ${what} ${describe(list)}: expected an array of { set, value }`);
  return list.map((item: unknown, i) => {
    if (typeof item !== 'object' || item === null)
      throw new InvalidArgumentError(`invalid ${what}[${i}] ${describe(item)}: expected { set, value }`);
    const { set, value } = item as { set?: unknown; value?: unknown };
    return {
      set: checkText(`${what}[${i}].set`, set, MAX_CLAIM_SET_BYTES),
      value: checkText(`${what}[${i}].value`, value, MAX_CLAIM_VALUE_BYTES),
    };
  });
}

function checkText(what: string, text: unknown, maxBytes: number): string {
  if (typeof text !== 'string' || text.length === 0)
    throw new InvalidArgumentError(`invalid ${what} ${describe(text)}: expected a non-empty string`);
  const bytes = textEncoder.encode(text).byteLength;
  if (bytes > maxBytes)
    throw new InvalidArgumentError(
      `invalid ${what} ${describe(text)}: ${bytes} bytes long, expected at most ${maxBytes}`,
    );
  return text;
}

/**
 * Claim changes as bytes (docs/format.md), stored after the data of an append part's first
 * record and sent the same way in append requests: per change, u8 op (1 claim, 2 release) |
 * u8 set length | set | u16 value length | value. Releases come first.
 */
export function encodeClaimChanges(changes: ClaimChanges): Uint8Array {
  const encoder = textEncoder;
  const items = [
    ...changes.releases.map((claim) => [CLAIM_OP_RELEASE, claim] as const),
    ...changes.claims.map((claim) => [CLAIM_OP_CLAIM, claim] as const),
  ].map(([op, claim]) => ({ op, set: encoder.encode(claim.set), value: encoder.encode(claim.value) }));
  let size = 0;
  for (const item of items) size += 1 + 1 + item.set.byteLength + 2 + item.value.byteLength;
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  let at = 0;
  for (const item of items) {
    bytes[at] = item.op;
    bytes[at + 1] = item.set.byteLength;
    bytes.set(item.set, at + 2);
    at += 2 + item.set.byteLength;
    view.setUint16(at, item.value.byteLength, true);
    bytes.set(item.value, at + 2);
    at += 2 + item.value.byteLength;
  }
  return bytes;
}

/** The inverse of `encodeClaimChanges`; throws a plain Error on malformed bytes (the caller names the record). */
export function decodeClaimChanges(bytes: Uint8Array): ClaimChanges {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const claims: Claim[] = [];
  const releases: Claim[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (at < bytes.byteLength) {
    if (at + 2 > bytes.byteLength) throw new Error(`claim changes cut at byte ${at} of ${bytes.byteLength}`);
    const op = bytes[at]!;
    const setLength = bytes[at + 1]!;
    at += 2;
    if (at + setLength + 2 > bytes.byteLength)
      throw new Error(`claim set runs past the ${bytes.byteLength} bytes of claim changes`);
    const set = decoder.decode(bytes.subarray(at, at + setLength));
    at += setLength;
    const valueLength = view.getUint16(at, true);
    at += 2;
    if (at + valueLength > bytes.byteLength)
      throw new Error(`claim value runs past the ${bytes.byteLength} bytes of claim changes`);
    const value = decoder.decode(bytes.subarray(at, at + valueLength));
    at += valueLength;
    if (set.length === 0 || value.length === 0) throw new Error('an empty claim set or value');
    if (op === CLAIM_OP_CLAIM) claims.push({ set, value });
    else if (op === CLAIM_OP_RELEASE) releases.push({ set, value });
    else throw new Error(`unknown claim op ${op}`);
  }
  return { claims, releases };
}
