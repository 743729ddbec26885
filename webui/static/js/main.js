// Entry point: reads the page's settings (data attributes set by the server), builds each part
// and connects them. Loaded as a module, so it runs once the document is parsed; the server's
// strict CSP allows scripts from this origin only, which covers these modules.

import { createModeSwitch } from "./mode.js";
import { showModelCard } from "./model-card.js";
import { createNumberView } from "./number-view.js";
import { createPad } from "./pad.js";
import { createPredictor } from "./predict.js";
import { createRecovery } from "./recovery.js";
import { createView } from "./render.js";
import { listenForFiles } from "./upload.js";

const settings = document.body.dataset;
const $ = (id) => document.getElementById(id);

const lowConfidence = parseFloat(settings.lowConfidence); // below: "not sure"
const digitView = createView({
  digitEl: $("digit"),
  statusEl: $("status"),
  top3El: $("top3"),
  previewEl: $("preview"),
  previewEmpty: $("preview-empty"),
  fixEl: $("fix"),
  lowConfidence,
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

const numberView = createNumberView({
  numberEl: $("number"),
  statusEl: $("number-status"),
  placesEl: $("places"),
  boxesEl: $("boxes"),
  fixEl: $("number-fix"),
  pad,
  lowConfidence,
});

const mode = createModeSwitch({
  inputs: [...document.querySelectorAll('input[name="mode"]')],
  onChange: (next) => {
    numberView.showEmpty(); // its boxes lie over the pad
    pad.setMode(next); // empties the pad, which shows the empty state
  },
});

// The result panel of the current mode (the other one is hidden by the CSS).
const views = { digit: digitView, number: numberView };
const view = {
  showEmpty: () => views[mode.current()].showEmpty(),
  showUnavailable: () => views[mode.current()].showUnavailable(),
  showError: (message) => views[mode.current()].showError(message),
  showAnswer: (...args) => views[mode.current()].showAnswer(...args),
};

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
  readMode: mode.current,
});

listenForFiles({ fileInput: $("file"), dropzone: $("dropzone"), onFile: predictor.sendFile });

if (mode.current() !== "digit") pad.setMode(mode.current());
view.showEmpty();
showModelCard($("model-card"));
