// The drawing pad: a canvas that keeps strokes as vectors, or shows an uploaded image instead.
// It knows nothing about predictions; it reports changes through onDraw and onChange.

const STROKE_WIDTH = 0.08; // of the canvas width: survives the downscale to 28×28 pixels
const EXPORT_SIZE = 280; // the PNG sent for a drawing (10× MNIST's 28 pixels)

// onDraw: a stroke started or grew (worth a throttled prediction).
// onChange: a stroke ended, or undo / clear (worth a prediction now).
export function createPad({ canvas, hint, undoButton, clearButton, onDraw, onChange }) {
  const ctx = canvas.getContext("2d");
  // Strokes are lists of [x, y] in 0..1, so they redraw at any size.
  const strokes = [];
  let activePointer = null; // pointerId of the stroke being drawn, or null
  let uploaded = null; // {file, bitmap} while an uploaded image is shown instead

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
    const noPreview = uploaded !== null && !uploaded.bitmap; // a format the browser cannot draw
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

  // ---- pointer drawing: mouse, pen and touch alike (CSS touch-action: none stops scrolling) ----
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
    uploaded = null; // drawing starts a new digit
    strokes.push([pointAt(event)]);
    redraw();
    onDraw();
  });

  canvas.addEventListener("pointermove", (event) => {
    if (event.pointerId !== activePointer) return;
    event.preventDefault();
    const stroke = strokes[strokes.length - 1];
    // Coalesced events carry every sample since the last frame: smooth curves on fast strokes.
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
    for (const e of events.length ? events : [event]) stroke.push(pointAt(e));
    redraw();
    onDraw();
  });

  function endStroke(event) {
    if (event.pointerId !== activePointer) return;
    activePointer = null;
    onChange();
  }
  canvas.addEventListener("pointerup", endStroke);
  canvas.addEventListener("pointercancel", endStroke);

  // ---- undo and clear: buttons, Esc anywhere, Ctrl+Z / Cmd+Z ---------------------------------
  function undo() {
    if (strokes.length) strokes.pop();
    else uploaded = null;
    activePointer = null;
    redraw();
    onChange();
  }

  function clear() {
    strokes.length = 0;
    uploaded = null;
    activePointer = null;
    redraw();
    onChange();
  }

  undoButton.addEventListener("click", undo);
  clearButton.addEventListener("click", clear);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      clear();
    } else if ((event.ctrlKey || event.metaKey) && !event.shiftKey && event.key.toLowerCase() === "z") {
      event.preventDefault(); // not the browser's own undo
      undo();
    }
  });

  // ---- what the predictor needs ----------------------------------------------------------------

  // Shows an uploaded image in place of the drawing (the caller sends it).
  async function showImage(file) {
    strokes.length = 0;
    let bitmap = null;
    try {
      bitmap = await createImageBitmap(file);
    } catch {
      bitmap = null; // e.g. a format the browser cannot draw; the server may still read it
    }
    uploaded = { file, bitmap };
    redraw();
  }

  // Total stroke length in canvas widths (how much ink there is).
  function inkLength() {
    let length = 0;
    for (const stroke of strokes) {
      for (let i = 1; i < stroke.length; i++) {
        length += Math.hypot(stroke[i][0] - stroke[i - 1][0], stroke[i][1] - stroke[i - 1][1]);
      }
    }
    return length;
  }

  // The drawing as a 280×280 PNG, black on white, at a fixed size whatever the screen.
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

  new ResizeObserver(resizeCanvas).observe(canvas);
  resizeCanvas();

  return {
    isEmpty,
    uploadedFile: () => (uploaded ? uploaded.file : null), // null while the pad holds a drawing
    showImage,
    inkLength,
    exportDrawing,
  };
}
