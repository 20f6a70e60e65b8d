import type { Decider, DomainEvent } from './decider.js';

/**
 * A spec for a decider, without a log: `given(events).when(command).then(events)` or
 * `.thenThrows(ErrorClass | /message/)`. Throws an Error describing the difference.
 *
 *   const spec = deciderSpec(cart);
 *   spec
 *     .given([{ type: 'ItemAdded', data: { sku: 'a' } }])
 *     .when({ type: 'Checkout' })
 *     .then([{ type: 'CheckedOut', data: {} }]);
 */
export function deciderSpec<C, S, E extends DomainEvent>(decider: Decider<C, S, E>) {
  return {
    given(history: E[]) {
      return {
        when(command: C) {
          const run = (): E[] => {
            let state = decider.initial();
            for (const event of history) state = decider.evolve(state, event);
            return decider.decide(command, state);
          };
          return {
            // biome-ignore lint/suspicious/noThenProperty: the given/when/then API; a spec is never awaited
            then(expected: E[]): void {
              const actual = run();
              const a = JSON.stringify(actual);
              const e = JSON.stringify(expected);
              if (a !== e) throw new Error(`expected the events ${e}, got ${a}`);
            },
            thenThrows(expected: (abstract new (...args: never[]) => Error) | RegExp): void {
              let produced: E[];
              try {
                produced = run();
              } catch (error) {
                const matches =
                  expected instanceof RegExp ? expected.test((error as Error).message) : error instanceof expected;
                if (!matches)
                  throw new Error(
                    `expected ${String(expected)}, got` +
                      ` ${(error as Error).constructor.name}: ${(error as Error).message}`,
                  );
                return;
              }
              throw new Error(`expected ${String(expected)} to be thrown, got the events ${JSON.stringify(produced)}`);
            },
          };
        },
      };
    },
  };
}
