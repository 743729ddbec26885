// Entry point: reads the page's settings (data attributes set by the server), builds each part
// and connects them. Loaded as a module, so it runs once the document is parsed; the server's
// strict CSP allows scripts from this origin only, which covers these modules.

import { showModelCard } from "./model-card.js";
import { createPad } from "./pad.js";
import { createPredictor } from "./predict.js";
import { createRecovery } from "./recovery.js";
import { createView } from "./render.js";
import { listenForFiles } from "./upload.js";

const settings = document.body.dataset;
const $ = (id) => document.getElementById(id);

const view = createView({
  digitEl: $("digit"),
  statusEl: $("status"),
  top3El: $("top3"),
  previewEl: $("preview"),
  previewEmpty: $("preview-empty"),
  lowConfidence: parseFloat(settings.lowConfidence), // below: "not sure"
});

// The pad and the predictor call each other: the pad's callbacks reach the predictor lazily,
// and only after the user draws, by when `predictor` exists.
const pad = createPad({
  canvas: $("pad"),
  hint: $("pad-hint"),
  undoButton: $("undo"),
  clearButton: $("clear"),
  onDraw: () => predictor.schedule(),
  onChange: () => predictor.predictNow(),
});

const recovery = createRecovery({
  retryMaxMs: parseFloat(settings.retryMaxSeconds) * 1000, // back-off ceiling
  // Back online: re-send the pad's digit, or just show the empty state.
  onReady: () => (pad.isEmpty() ? view.showEmpty() : predictor.predictNow()),
});

const predictor = createPredictor({
  pad,
  view,
  recovery,
  maxUploadBytes: parseInt(settings.maxUploadBytes, 10),
});

listenForFiles({ fileInput: $("file"), dropzone: $("dropzone"), onFile: predictor.sendFile });

view.showEmpty();
showModelCard($("model-card"));
