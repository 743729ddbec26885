// Predictions: what the pad holds goes to /api/predict, throttled while drawing, and the latest
// request wins: requests are numbered, and an answer older than the one on screen is dropped.

const THROTTLE_MS = 120; // live predictions while drawing, at most one per this interval
const MIN_LIVE_INK = 0.25; // stroke length (pad heights) before live predictions start
const OUTAGE = new Set([503, 504, 0]); // model server down or slow, or the web UI unreachable

// recovery: {isWaiting(), start()} from recovery.js; it re-sends through predictNow once back.
// readMode(): "digit" or "number", what the server is asked to read.
export function createPredictor({ pad, view, recovery, maxUploadBytes, readMode }) {
  let lastSentAt = 0;
  let throttleTimer = null;
  let sentSeq = 0; // number of the newest request sent
  let shownSeq = 0; // number of the request whose answer is on screen
  let validFromSeq = 1; // answers to requests older than this belong to a cleared canvas

  // While drawing. Predictions wait for some ink: the first dot of a stroke is no digit yet,
  // and asking would only flash "no digit found".
  function schedule() {
    if (pad.inkLength() < MIN_LIVE_INK) return;
    const wait = THROTTLE_MS - (performance.now() - lastSentAt);
    if (wait <= 0) predictNow();
    else if (throttleTimer === null) throttleTimer = setTimeout(predictNow, wait);
  }

  // After a stroke, undo, clear or upload: send at once (an empty pad sends nothing).
  function predictNow() {
    clearTimeout(throttleTimer);
    throttleTimer = null;
    lastSentAt = performance.now();
    if (pad.isEmpty()) {
      validFromSeq = sentSeq + 1; // drop answers still in flight for the old drawing
      view.showEmpty();
      return;
    }
    if (recovery.isWaiting()) {
      view.showUnavailable(); // the retry loop re-sends the drawing once the server is back
      return;
    }
    const file = pad.uploadedFile();
    send(++sentSeq, file || pad.exportDrawing());
  }

  function formWith(file) {
    const form = new FormData();
    form.append("image", file);
    return form;
  }

  // image: an uploaded File (sent as a form) or the drawing's PNG Blob (sent as the body). The
  // view gets it back with the answer, for corrections: the image exactly as it was sent.
  async function send(seq, image) {
    const fromUpload = image instanceof File;
    const headers = fromUpload ? {} : { "Content-Type": "image/png" };
    if (readMode() === "number") headers["X-Read"] = "number";
    const init = { method: "POST", body: fromUpload ? formWith(image) : image, headers };
    let status;
    let answer = null;
    try {
      const response = await fetch("/api/predict", init);
      status = response.status;
      answer = await response.json().catch(() => null);
    } catch {
      status = 0; // the web UI itself is unreachable
    }
    if (seq <= shownSeq || seq < validFromSeq) return; // a newer answer is already shown
    shownSeq = seq;
    if (OUTAGE.has(status)) {
      view.showUnavailable();
      recovery.start();
    } else {
      view.showAnswer(status, answer, { image, fromUpload });
    }
  }

  // An image from the file picker, a drop or a paste: shown on the pad, then sent.
  async function sendFile(file) {
    if (!file) return;
    if (file.size > maxUploadBytes) {
      // The server would answer 413; say so without sending.
      const limitMb = Math.round(maxUploadBytes / 1048576);
      view.showError(`That file is too large: the limit is ${limitMb} MB.`);
      return;
    }
    await pad.showImage(file);
    predictNow();
  }

  return { schedule, predictNow, sendFile };
}
