// Outage recovery: while the model server is away, poll /readyz with back-off, then hand back
// to the page (onReady) so it re-sends what is on the pad, without a reload.

const FIRST_DELAY_MS = 500; // then doubled per poll, up to retryMaxMs

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function createRecovery({ retryMaxMs, onReady }) {
  let waiting = false;

  // Called on each outage answer; a second call while polling is a no-op (one loop at a time).
  async function start() {
    if (waiting) return;
    waiting = true;
    for (let delay = FIRST_DELAY_MS; ; delay = Math.min(delay * 2, retryMaxMs)) {
      await sleep(delay);
      try {
        if ((await fetch("/readyz", { cache: "no-store" })).ok) break;
      } catch {
        // the web UI itself is down: keep polling
      }
    }
    waiting = false;
    onReady();
  }

  // While true, predictions are not sent: the page shows the outage instead.
  return { start, isWaiting: () => waiting };
}
