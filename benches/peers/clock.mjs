// Wall-clock microseconds, as the Rust side reads them (SystemTime): Date.now()
// has only milliseconds, so the monotonic clock is anchored to the instant
// Date.now() ticks over, which is within a few µs of the wall clock.
function anchor() {
  const before = Date.now();
  let now;
  while ((now = Date.now()) === before);
  return BigInt(now) * 1000n - process.hrtime.bigint() / 1000n;
}

const offset = anchor();

export function nowUs() {
  return Number(process.hrtime.bigint() / 1000n + offset);
}
