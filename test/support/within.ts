// Waiting for something that other processes or timers bring about, with a
// bound: the bound is part of what the test pins (a documented delay).

/** Polls `check` every 100 ms until it returns a value; fails after `seconds`. */
export async function within<Value>(seconds: number, check: () => Promise<Value | undefined>): Promise<Value> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`not reached within ${seconds} s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
