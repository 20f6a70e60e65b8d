import type { Claim, ClaimChanges } from '../types/claims.js';
import { invariantFailed } from './assert.js';

/** Who holds a claimed value: the stream of the append that claimed it, and where. */
export interface ClaimHolder {
  readonly stream: string;
  readonly position: number;
}

/** One held value, as a checkpoint stores it. */
export interface HeldClaim extends ClaimHolder {
  readonly set: string;
  readonly value: string;
}

/** A change made at `position`, kept until committed so a truncation can undo it. */
interface JournalEntry {
  position: number;
  set: string;
  value: string;
  previous: ClaimHolder | undefined;
}

/**
 * The values held in every claim set: part of the log's state machine, built by applying the
 * claim changes stored in the log, in position order. The engine holds uncommitted appends too,
 * and a new leader may cut them away; unlike ids, a cut release must give the value back to its
 * previous holder, so every change not yet committed is journaled with what it replaced.
 */
export class ClaimTable {
  private readonly sets = new Map<string, Map<string, ClaimHolder>>();
  private journal: JournalEntry[] = [];
  private held = 0;

  /** Values held, across all sets. */
  get size(): number {
    return this.held;
  }

  holder(set: string, value: string): ClaimHolder | undefined {
    return this.sets.get(set)?.get(value);
  }

  /** Applies an append part's changes (releases first, then claims). The caller decided they hold. */
  apply(stream: string, position: number, changes: ClaimChanges): void {
    for (const claim of changes.releases) this.change(claim, undefined, position);
    for (const claim of changes.claims) this.change(claim, { stream, position }, position);
  }

  /** Restores the table as it was at `position` (the log was truncated after it). */
  truncateAfter(position: number): void {
    while (this.journal.length > 0 && this.journal[this.journal.length - 1]!.position > position) {
      const entry = this.journal.pop()!;
      this.put(entry.set, entry.value, entry.previous);
    }
  }

  /** Forgets the undo records up to `position`: committed, they are never cut. */
  settle(position: number): void {
    let keep = 0;
    while (keep < this.journal.length && this.journal[keep]!.position <= position) keep++;
    if (keep > 0) this.journal = this.journal.slice(keep);
  }

  /** Every value held as of `position` (later, uncommitted changes undone), for a checkpoint. */
  heldAt(position: number): HeldClaim[] {
    const undone = new Map<string, Map<string, ClaimHolder | undefined>>();
    for (let i = this.journal.length - 1; i >= 0 && this.journal[i]!.position > position; i--) {
      const entry = this.journal[i]!;
      let set = undone.get(entry.set);
      if (!set) undone.set(entry.set, (set = new Map()));
      set.set(entry.value, entry.previous);
    }
    const held: HeldClaim[] = [];
    const visit = (set: string, value: string, holder: ClaimHolder | undefined): void => {
      if (holder) held.push({ set, value, stream: holder.stream, position: holder.position });
    };
    for (const [set, values] of this.sets) {
      const undoneInSet = undone.get(set);
      for (const [value, holder] of values)
        visit(set, value, undoneInSet?.has(value) ? undoneInSet.get(value) : holder);
    }
    // Values released after `position` were held at it.
    for (const [set, values] of undone) {
      for (const [value, previous] of values) if (!this.sets.get(set)?.has(value)) visit(set, value, previous);
    }
    return held;
  }

  /** Loads a checkpoint's held values (into an empty table). */
  load(held: readonly HeldClaim[]): void {
    if (this.held !== 0) invariantFailed('claims loaded into a non-empty table');
    for (const claim of held) this.put(claim.set, claim.value, { stream: claim.stream, position: claim.position });
  }

  private change(claim: Claim, holder: ClaimHolder | undefined, position: number): void {
    const previous = this.holder(claim.set, claim.value);
    if (previous === undefined && holder === undefined) return;
    // Re-claiming a value the same stream holds keeps its original claim.
    if (previous !== undefined && holder !== undefined && previous.stream === holder.stream) return;
    if (previous !== undefined && holder !== undefined)
      invariantFailed(`claim of ${claim.set}/${claim.value} by ${holder.stream}, held by ${previous.stream}`);
    this.journal.push({ position, set: claim.set, value: claim.value, previous });
    this.put(claim.set, claim.value, holder);
  }

  private put(set: string, value: string, holder: ClaimHolder | undefined): void {
    let values = this.sets.get(set);
    if (holder === undefined) {
      if (values?.delete(value)) {
        this.held--;
        if (values.size === 0) this.sets.delete(set);
      }
      return;
    }
    if (!values) this.sets.set(set, (values = new Map()));
    if (!values.has(value)) this.held++;
    values.set(value, holder);
  }
}

/**
 * The first change of `changes` (by `stream`) that the table, as earlier parts of the same
 * append leave it (`pending`), refuses: a release or claim of a value another stream holds.
 * `pending` maps `set\0value` to the holding stream, or null once released in this append.
 */
export function refusedClaim(
  table: ClaimTable,
  stream: string,
  changes: ClaimChanges,
  pending: Map<string, string | null>,
): { claim: Claim; operation: 'claim' | 'release'; holder: ClaimHolder } | undefined {
  const holderOf = (claim: Claim): ClaimHolder | undefined => {
    const key = `${claim.set}\0${claim.value}`;
    if (pending.has(key)) {
      const holding = pending.get(key);
      // Claimed by an earlier part of this append: it has no position yet; the table's own holder is the best named.
      return holding === null || holding === undefined
        ? undefined
        : { stream: holding, position: table.holder(claim.set, claim.value)?.position ?? -1 };
    }
    return table.holder(claim.set, claim.value);
  };
  for (const claim of changes.releases) {
    const holder = holderOf(claim);
    if (holder !== undefined && holder.stream !== stream) return { claim, operation: 'release', holder };
    pending.set(`${claim.set}\0${claim.value}`, null);
  }
  for (const claim of changes.claims) {
    const holder = holderOf(claim);
    if (holder !== undefined && holder.stream !== stream) return { claim, operation: 'claim', holder };
    pending.set(`${claim.set}\0${claim.value}`, stream);
  }
  return undefined;
}
