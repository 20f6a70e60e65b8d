/** Polls `probe` every 10 ms until it returns a value (not undefined or false); fails after `ms`. */
export async function until<T>(what: string, probe: () => T | undefined | false, ms = 8000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Waits until retention has removed what it will (the log's first position is above 0 and has
 * not moved for `quietMs`), and returns that first position.
 */
export async function retentionSettled(log: { readonly firstPosition: number }, quietMs = 150): Promise<number> {
  let first = await until('retention removing segments', () => log.firstPosition > 0 && log.firstPosition);
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, quietMs));
    if (log.firstPosition === first) return first;
    first = log.firstPosition;
  }
}
