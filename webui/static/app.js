// The drawing page: a canvas kept as vector strokes, live predictions, upload, and recovery when
// the model server goes away. No framework; the server's strict CSP allows this file only.
"use strict";

(() => {
  const settings = document.body.dataset;
  const LOW_CONFIDENCE = parseFloat(settings.lowConfidence);      // below: "not sure"
  const RETRY_MAX_MS = parseFloat(settings.retryMaxSeconds) * 1000; // backoff ceiling
  const MAX_UPLOAD_BYTES = parseInt(settings.maxUploadBytes, 10);
  const THROTTLE_MS = 120;     // live predictions while drawing, at most one per this interval
  const STROKE_WIDTH = 0.08;   // of the canvas width: survives the downscale to 28×28 pixels
  const EXPORT_SIZE = 280;     // the PNG sent for a drawing (10× MNIST's 28 pixels)
  const MIN_LIVE_INK = 0.25;   // stroke length (canvas widths) before live predictions start

  const $ = (id) => document.getElementById(id);
  const canvas = $("pad");
  const ctx = canvas.getContext("2d");
  const hint = $("pad-hint");
  const digitEl = $("digit");
  const statusEl = $("status");
  const top3El = $("top3");
  const previewEl = $("preview");
  const previewEmpty = $("preview-empty");
  const undoButton = $("undo");
  const clearButton = $("clear");

  // ---- drawing state: strokes are lists of [x, y] in 0..1, so they redraw at any size ----------
  const strokes = [];
  let activePointer = null;   // pointerId of the stroke being drawn, or null
  let uploaded = null;        // {file, bitmap} while an uploaded image is shown instead

  const isEmpty = () => strokes.length === 0 && uploaded === null;

  function paintStrokes(target, size) {
    target.lineCap = "round";
    target.lineJoin = "round";
    target.lineWidth = STROKE_WIDTH * size;
    target.strokeStyle = "#000000";
    target.fillStyle = "#000000";
    for (const stroke of strokes) {
      target.beginPath();
      if (stroke.length === 1) {
        // A tap leaves a round dot (a zero-length line may not be drawn at all).
        target.arc(stroke[0][0] * size, stroke[0][1] * size, target.lineWidth / 2, 0, 2 * Math.PI);
        target.fill();
        continue;
      }
      target.moveTo(stroke[0][0] * size, stroke[0][1] * size);
      for (const [x, y] of stroke.slice(1)) target.lineTo(x * size, y * size);
      target.stroke();
    }
  }

  function paintContained(target, bitmap, size) {
    const scale = Math.min(size / bitmap.width, size / bitmap.height);
    const w = bitmap.width * scale;
    const h = bitmap.height * scale;
    target.drawImage(bitmap, (size - w) / 2, (size - h) / 2, w, h);
  }

  function redraw() {
    const size = canvas.width;
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, size, size);
    if (uploaded && uploaded.bitmap) paintContained(ctx, uploaded.bitmap, size);
    paintStrokes(ctx, size);
    const noPreview = uploaded !== null && !uploaded.bitmap;  // a format the browser cannot draw
    hint.hidden = !isEmpty() && !noPreview;
    hint.textContent = noPreview ? "Image sent (no preview)" : "Draw here";
    undoButton.disabled = isEmpty();
    clearButton.disabled = isEmpty();
  }

  // The backing store follows the element's size times devicePixelRatio: sharp on phones.
  function resizeCanvas() {
    const side = Math.round(canvas.getBoundingClientRect().width * (window.devicePixelRatio || 1));
    if (side > 0 && side !== canvas.width) {
      canvas.width = side;
      canvas.height = side;
    }
    redraw();
  }
  new ResizeObserver(resizeCanvas).observe(canvas);

  function pointAt(event) {
    const box = canvas.getBoundingClientRect();
    const clamp = (v) => Math.min(1, Math.max(0, v));
    return [clamp((event.clientX - box.left) / box.width), clamp((event.clientY - box.top) / box.height)];
  }

  canvas.addEventListener("pointerdown", (event) => {
    if (event.button !== 0 || activePointer !== null) return;
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    activePointer = event.pointerId;
    uploaded = null;            // drawing starts a new digit
    strokes.push([pointAt(event)]);
    redraw();
    schedulePrediction();
  });

  canvas.addEventListener("pointermove", (event) => {
    if (event.pointerId !== activePointer) return;
    event.preventDefault();
    const stroke = strokes[strokes.length - 1];
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
    for (const e of events.length ? events : [event]) stroke.push(pointAt(e));
    redraw();
    schedulePrediction();
  });

  function endStroke(event) {
    if (event.pointerId !== activePointer) return;
    activePointer = null;
    predictNow();
  }
  canvas.addEventListener("pointerup", endStroke);
  canvas.addEventListener("pointercancel", endStroke);

  function undo() {
    if (strokes.length) strokes.pop();
    else uploaded = null;
    activePointer = null;
    redraw();
    predictNow();
  }

  function clear() {
    strokes.length = 0;
    uploaded = null;
    activePointer = null;
    redraw();
    predictNow();
  }

  undoButton.addEventListener("click", undo);
  clearButton.addEventListener("click", clear);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      clear();
    } else if ((event.ctrlKey || event.metaKey) && !event.shiftKey && event.key.toLowerCase() === "z") {
      event.preventDefault();
      undo();
    }
  });

  // ---- upload: file picker, drag and drop, paste --------------------------------------------
  async function useFile(file) {
    if (!file) return;
    if (file.size > MAX_UPLOAD_BYTES) {   // the server would answer 413; say so without sending
      const limitMb = Math.round(MAX_UPLOAD_BYTES / 1048576);
      render(413, { message: `That file is too large: the limit is ${limitMb} MB.` });
      return;
    }
    strokes.length = 0;
    let bitmap = null;
    try {
      bitmap = await createImageBitmap(file);
    } catch {
      bitmap = null;  // e.g. a format the browser cannot draw; the server may still read it
    }
    uploaded = { file, bitmap };
    redraw();
    predictNow();
  }

  const fileInput = $("file");
  fileInput.addEventListener("change", () => {
    useFile(fileInput.files[0]);
    fileInput.value = "";       // choosing the same file again still triggers a change
  });

  const dropzone = $("dropzone");
  dropzone.addEventListener("dragover", (event) => {
    event.preventDefault();
    dropzone.classList.add("dragging");
  });
  dropzone.addEventListener("dragleave", () => dropzone.classList.remove("dragging"));
  dropzone.addEventListener("drop", (event) => {
    event.preventDefault();
    dropzone.classList.remove("dragging");
    useFile(event.dataTransfer.files[0]);
  });
  document.addEventListener("paste", (event) => {
    const file = [...event.clipboardData.files].find((f) => f.type.startsWith("image/"));
    if (file) {
      event.preventDefault();
      useFile(file);
    }
  });

  // ---- predictions: throttled while drawing, latest request wins ------------------------------
  let lastSentAt = 0;
  let throttleTimer = null;
  let sentSeq = 0;        // number of the newest request sent
  let shownSeq = 0;       // number of the request whose answer is on screen
  let validFromSeq = 1;   // answers to requests older than this belong to a cleared canvas
  let waitingForServer = false;

  // Total stroke length in canvas widths. While drawing, predictions wait for this much ink: the
  // first dot of a stroke is no digit yet, and asking would only flash "no digit found".
  function inkLength() {
    let length = 0;
    for (const stroke of strokes) {
      for (let i = 1; i < stroke.length; i++) {
        length += Math.hypot(stroke[i][0] - stroke[i - 1][0], stroke[i][1] - stroke[i - 1][1]);
      }
    }
    return length;
  }

  function schedulePrediction() {
    if (inkLength() < MIN_LIVE_INK) return;
    const wait = THROTTLE_MS - (performance.now() - lastSentAt);
    if (wait <= 0) predictNow();
    else if (throttleTimer === null) throttleTimer = setTimeout(predictNow, wait);
  }

  function exportDrawing() {
    const out = document.createElement("canvas");
    out.width = EXPORT_SIZE;
    out.height = EXPORT_SIZE;
    const outCtx = out.getContext("2d");
    outCtx.fillStyle = "#ffffff";
    outCtx.fillRect(0, 0, EXPORT_SIZE, EXPORT_SIZE);
    paintStrokes(outCtx, EXPORT_SIZE);
    // toDataURL, not toBlob: Chromium may defer toBlob's encoding to an idle period (up to ~1 s
    // when none comes), while a 280×280 PNG encodes synchronously in a few milliseconds.
    const base64 = out.toDataURL("image/png").split(",")[1];
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    return new Blob([bytes], { type: "image/png" });
  }

  function predictNow() {
    clearTimeout(throttleTimer);
    throttleTimer = null;
    lastSentAt = performance.now();
    if (isEmpty()) {
      validFromSeq = sentSeq + 1;   // drop answers still in flight for the old drawing
      showEmpty();
      return;
    }
    if (waitingForServer) {         // the retry loop re-sends the drawing once the server is back
      showUnavailable();
      return;
    }
    send(++sentSeq, uploaded ? formWith(uploaded.file) : exportDrawing());
  }

  function formWith(file) {
    const form = new FormData();
    form.append("image", file);
    return form;
  }

  async function send(seq, body) {
    const init = { method: "POST", body };
    if (body instanceof Blob) init.headers = { "Content-Type": "image/png" };
    let status;
    let answer = null;
    try {
      const response = await fetch("/api/predict", init);
      status = response.status;
      answer = await response.json().catch(() => null);
    } catch {
      status = 0;               // the web UI itself is unreachable
    }
    if (seq <= shownSeq || seq < validFromSeq) return;  // a newer answer is already shown
    shownSeq = seq;
    render(status, answer);
  }

  // ---- rendering --------------------------------------------------------------------------------
  const percent = (p) => `${Math.round(p * 100)}%`;

  function showMessage(state, text) {
    statusEl.dataset.state = state;
    statusEl.textContent = text;
  }

  function showDigit(text, faint) {
    digitEl.textContent = text;
    digitEl.classList.toggle("faint", faint);
  }

  function showTop3(top3) {
    top3El.replaceChildren(
      ...top3.map(({ digit, probability }) => {
        const item = document.createElement("li");
        const label = document.createElement("span");
        label.className = "t3-digit";
        label.textContent = digit;
        const track = document.createElement("span");
        track.className = "track";
        const fill = document.createElement("span");
        fill.className = "fill";
        fill.style.width = `${Math.max(1, probability * 100)}%`;
        track.append(fill);
        const value = document.createElement("span");
        value.className = "pct";
        value.textContent = percent(probability);
        item.append(label, track, value);
        return item;
      }),
    );
  }

  function showPreview(base64Png) {
    previewEl.hidden = !base64Png;
    previewEmpty.hidden = Boolean(base64Png);
    if (base64Png) previewEl.src = `data:image/png;base64,${base64Png}`;
  }

  function showEmpty() {
    showDigit("–", true);
    showMessage("empty", "Draw a digit to see what the model reads.");
    showTop3([]);
    showPreview(null);
  }

  function showUnavailable() {
    showDigit("–", true);
    showTop3([]);
    showPreview(null);
    showMessage("unavailable", "Model server unavailable. Retrying automatically…");
  }

  function render(status, answer) {
    if (status === 200 && answer) {
      const unsure = answer.confidence < LOW_CONFIDENCE;
      showDigit(String(answer.digit), unsure);
      showTop3(answer.top3 || []);
      showPreview(answer.preview);
      if (unsure) {
        const [first, second] = answer.top3;
        const alt = second ? ` or ${second.digit}` : "";
        showMessage("unsure", `Not sure: maybe ${first.digit}${alt}. Try drawing it larger and clearer.`);
      } else {
        const who = uploaded ? "your image" : "your drawing";
        showMessage("ok", `Reads ${who} as ${answer.digit}, ${percent(answer.confidence)} confident.`);
      }
      return;
    }
    showTop3([]);
    showPreview(null);
    if (status === 422) {
      showDigit("?", true);
      showMessage("no-digit", (answer && answer.message) || "No digit found.");
    } else if (status === 503 || status === 504 || status === 0) {
      showUnavailable();
      waitUntilReady();
    } else {
      showDigit("!", true);
      showMessage("error", (answer && answer.message) || `Unexpected answer (${status}).`);
    }
  }

  // ---- recovery: poll /readyz with backoff, then re-send what is on the canvas --------------------
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  async function waitUntilReady() {
    if (waitingForServer) return;
    waitingForServer = true;
    for (let delay = 500; ; delay = Math.min(delay * 2, RETRY_MAX_MS)) {
      await sleep(delay);
      try {
        if ((await fetch("/readyz", { cache: "no-store" })).ok) break;
      } catch {
        // the web UI itself is down: keep polling
      }
    }
    waitingForServer = false;
    if (isEmpty()) showEmpty();
    else predictNow();
  }

  // ---- model card in the footer -----------------------------------------------------------------
  async function showModelCard() {
    const card = $("model-card");
    try {
      const response = await fetch("/api/model");
      const info = await response.json();
      if (!response.ok) throw new Error(info.message);
      const parts = [`Model “${info.name}” v${info.version}, served by TorchServe`];
      if (typeof info.test_accuracy === "number") {
        const accuracy = info.test_accuracy <= 1 ? info.test_accuracy * 100 : info.test_accuracy;
        parts.push(`${accuracy.toFixed(2)}% accuracy on the MNIST test set`);
      }
      if (typeof info.parameters === "number") {
        parts.push(`${info.parameters.toLocaleString("en-US")} parameters`);
      }
      card.textContent = `${parts.join(" · ")}.`;
    } catch {
      card.textContent = "Model details are unavailable.";
    }
  }

  resizeCanvas();
  showEmpty();
  showModelCard();
})();
