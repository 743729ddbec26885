// Rendering: the prediction panel (digit, status line, top-3 bars, the model's 28×28 preview,
// the correction control). Only writes to the page; it never decides what to send or when.

import { createCorrectionToggle } from "./feedback.js";

export const percent = (p) => `${Math.round(p * 100)}%`;

// The status line under an answer; data-state drives its colour in style.css (and lets tests
// read the state). Shared with number mode's view.
export function showStatus(statusEl, state, text) {
  statusEl.dataset.state = state;
  statusEl.textContent = text;
}

// The answer shown large (a digit or a number); faint while there is no confident answer.
export function showLarge(el, text, faint) {
  el.textContent = text;
  el.classList.toggle("faint", faint);
}

// lowConfidence: below this top-1 probability the answer is shown as "not sure".
// fixEl: where the "Wrong? It's a …" control goes, under each answer.
export function createView({
  digitEl,
  statusEl,
  top3El,
  previewEl,
  previewEmpty,
  fixEl,
  lowConfidence,
}) {
  const showMessage = (state, text) => showStatus(statusEl, state, text);
  const showDigit = (text, faint) => showLarge(digitEl, text, faint);

  // Built with DOM nodes rather than innerHTML: nothing from the server is parsed as markup.
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
        // A CSSOM property, not a style attribute: the CSP forbids inline style attributes.
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

  // A newer answer to the same drawing (the one sent when the pen lifts) may land while the
  // person already reached the control: keep it open and focused.
  function showFix(control) {
    const focused = fixEl.contains(document.activeElement);
    control.open = fixEl.querySelector("details[open]") !== null;
    fixEl.replaceChildren(control);
    if (focused) control.querySelector("summary").focus();
  }

  function showEmpty() {
    showDigit("–", true);
    showMessage("empty", "Draw a digit to see what the model reads.");
    showTop3([]);
    showPreview(null);
    fixEl.replaceChildren(); // no answer, nothing to correct
  }

  function showUnavailable() {
    showDigit("–", true);
    showTop3([]);
    showPreview(null);
    fixEl.replaceChildren(); // no answer, nothing to correct
    showMessage("unavailable", "Model server unavailable. Retrying automatically…");
  }

  function showError(message) {
    showTop3([]);
    showPreview(null);
    fixEl.replaceChildren(); // no answer, nothing to correct
    showDigit("!", true);
    showMessage("error", message);
  }

  // One answer from /api/predict (status 0: the web UI itself was unreachable). The caller
  // handles outages (503, 504, 0) with showUnavailable; any other status lands here.
  // sent: {image, fromUpload}, the image this answer is about.
  function showAnswer(status, answer, { image, fromUpload }) {
    if (status === 200 && answer) {
      const unsure = answer.confidence < lowConfidence;
      showDigit(String(answer.digit), unsure);
      showTop3(answer.top3 || []);
      showPreview(answer.preview);
      showFix(createCorrectionToggle({ image, predicted: answer.digit, mode: "digit" }));
      if (unsure) {
        const [first, second] = answer.top3;
        const alt = second ? ` or ${second.digit}` : "";
        showMessage("unsure", `Not sure: maybe ${first.digit}${alt}. Try drawing it larger and clearer.`);
      } else {
        const who = fromUpload ? "your image" : "your drawing";
        showMessage("ok", `Reads ${who} as ${answer.digit}, ${percent(answer.confidence)} confident.`);
      }
    } else if (status === 422) {
      showTop3([]);
      showPreview(null);
      fixEl.replaceChildren();
      showDigit("?", true);
      showMessage("no-digit", (answer && answer.message) || "No digit found.");
    } else {
      showError((answer && answer.message) || `Unexpected answer (${status}).`);
    }
  }

  return { showEmpty, showUnavailable, showError, showAnswer };
}
