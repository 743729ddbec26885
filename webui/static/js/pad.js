// The drawing pad: a canvas that keeps strokes as vectors, or shows an uploaded image instead.
// It knows nothing about predictions; it reports changes through onDraw and onChange.
// Square in digit mode; in number mode CSS makes it wide, and the pad follows its shape.

const STROKE_WIDTH = 0.08; // of the canvas height: survives the downscale to 28×28 pixels
const EXPORT_HEIGHT = 280; // the PNG sent for a drawing: 10× MNIST's 28 pixels high
const MODES = {
  digit: { hint: "Draw here", label: "Drawing area. Draw one digit with a mouse, finger or pen." },
  number: {
    hint: "Draw a number here",
    label: "Wide drawing area. Draw a number, digit after digit from left to right.",
  },
};

// onDraw: a stroke started or grew (worth a throttled prediction).
// onChange: a stroke ended, or undo / clear (worth a prediction now).
export function createPad({ canvas, hint, undoButton, clearButton, onDraw, onChange }) {
  const ctx = canvas.getContext("2d");
  // Strokes are lists of [x, y] in pad heights (y in 0..1, x in 0..aspect), so they redraw at
  // any size.
  const strokes = [];
  let mode = "digit";
  let activePointer = null; // pointerId of the stroke being drawn, or null
  let uploaded = null; // {file, bitmap} while an uploaded image is shown instead

  const isEmpty = () => strokes.length === 0 && uploaded === null;

  // Width over height of the pad as laid out (1 in digit mode).
  function aspect() {
    const box = canvas.getBoundingClientRect();
    return box.height > 0 ? box.width / box.height : 1;
  }

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

  // Where an image of width×height shows on a pad of padWidth×padHeight: centred, whole.
  function contained(width, height, padWidth, padHeight) {
    const scale = Math.min(padWidth / width, padHeight / height);
    return { scale, x: (padWidth - width * scale) / 2, y: (padHeight - height * scale) / 2 };
  }

  function redraw() {
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    if (uploaded && uploaded.bitmap) {
      const { width, height } = uploaded.bitmap;
      const at = contained(width, height, canvas.width, canvas.height);
      ctx.drawImage(uploaded.bitmap, at.x, at.y, width * at.scale, height * at.scale);
    }
    paintStrokes(ctx, canvas.height);
    const noPreview = uploaded !== null && !uploaded.bitmap; // a format the browser cannot draw
    hint.hidden = !isEmpty() && !noPreview;
    hint.textContent = noPreview ? "Image sent (no preview)" : MODES[mode].hint;
    undoButton.disabled = isEmpty();
    clearButton.disabled = isEmpty();
  }

  // The backing store follows the element's size times devicePixelRatio: sharp on phones.
  function resizeCanvas() {
    const box = canvas.getBoundingClientRect();
    const ratio = window.devicePixelRatio || 1;
    const [width, height] = [Math.round(box.width * ratio), Math.round(box.height * ratio)];
    if (width > 0 && height > 0 && (width !== canvas.width || height !== canvas.height)) {
      canvas.width = width;
      canvas.height = height;
    }
    redraw();
  }

  // ---- pointer drawing: mouse, pen and touch alike (CSS touch-action: none stops scrolling) ----
  function pointAt(event) {
    const box = canvas.getBoundingClientRect();
    const clamp = (v, max) => Math.min(max, Math.max(0, v));
    const x = (event.clientX - box.left) / box.height;
    return [clamp(x, box.width / box.height), clamp((event.clientY - box.top) / box.height, 1)];
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

  // Total stroke length in pad heights (how much ink there is).
  function inkLength() {
    let length = 0;
    for (const stroke of strokes) {
      for (let i = 1; i < stroke.length; i++) {
        length += Math.hypot(stroke[i][0] - stroke[i - 1][0], stroke[i][1] - stroke[i - 1][1]);
      }
    }
    return length;
  }

  // The size of the PNG a drawing is sent as: 280 pixels high, as wide as the pad's shape.
  function exportSize() {
    return { width: Math.round(EXPORT_HEIGHT * aspect()), height: EXPORT_HEIGHT };
  }

  // The drawing as a PNG, black on white, at a fixed size whatever the screen (280×280 in digit
  // mode).
  function exportDrawing() {
    const out = document.createElement("canvas");
    Object.assign(out, exportSize());
    const outCtx = out.getContext("2d");
    outCtx.fillStyle = "#ffffff";
    outCtx.fillRect(0, 0, out.width, out.height);
    paintStrokes(outCtx, out.height);
    // toDataURL, not toBlob: Chromium may defer toBlob's encoding to an idle period (up to ~1 s
    // when none comes), while a 280×280 PNG encodes synchronously in a few milliseconds.
    const base64 = out.toDataURL("image/png").split(",")[1];
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    return new Blob([bytes], { type: "image/png" });
  }

  // Where a box [x0, y0, x1, y1] in the pixels of the image sent lies on the pad, as fractions
  // of its width and height (null when an uploaded image could not be shown).
  function placeOf([x0, y0, x1, y1]) {
    let at = { scale: 1 / EXPORT_HEIGHT, x: 0, y: 0 };
    if (uploaded) {
      if (!uploaded.bitmap) return null;
      at = contained(uploaded.bitmap.width, uploaded.bitmap.height, aspect(), 1);
    }
    const w = aspect();
    return {
      left: (at.x + x0 * at.scale) / w,
      right: (at.x + x1 * at.scale) / w,
      top: at.y + y0 * at.scale,
      bottom: at.y + y1 * at.scale,
    };
  }

  // Digit or number: empties the pad (strokes of one shape mean nothing on the other); the
  // caller changes the pad's CSS shape first.
  function setMode(next) {
    mode = next;
    canvas.setAttribute("aria-label", MODES[mode].label);
    strokes.length = 0;
    uploaded = null;
    activePointer = null;
    resizeCanvas();
    onChange();
  }

  new ResizeObserver(resizeCanvas).observe(canvas);
  resizeCanvas();

  return {
    isEmpty,
    uploadedFile: () => (uploaded ? uploaded.file : null), // null while the pad holds a drawing
    showImage,
    inkLength,
    exportDrawing,
    placeOf,
    setMode,
  };
}
