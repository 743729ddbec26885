// Rendering in number mode: the number large in the result panel, and under the pad one column
// per digit (the digit, its 28×28 preview, its top 3, "Wrong?") placed under where it was drawn,
// with a faint box over each digit on the pad. Only writes to the page, like render.js.

import { createCorrection } from "./feedback.js";
import { percent, showLarge, showStatus } from "./render.js";

const PLACE_WIDTH = { min: 60, max: 120 }; // CSS pixels per digit column

// pad: for placeOf(box), where a digit's box lies on the pad as displayed.
export function createNumberView({
  numberEl,
  statusEl,
  placesEl,
  boxesEl,
  fixEl,
  pad,
  lowConfidence,
}) {
  let centres = []; // each column's wanted centre, as a fraction of the pad's width
  let openPosition = null; // the digit whose correction panel is open, or null

  const showMessage = (state, text) => showStatus(statusEl, state, text);
  const showNumber = (text, faint) => showLarge(numberEl, text, faint);

  function clearPlaces() {
    centres = [];
    placesEl.replaceChildren();
    boxesEl.replaceChildren();
    closeFix();
  }

  // Columns at their digits' centres, but never overlapping and never past the pad's edges;
  // with too many digits for the width they keep their minimum width and the row scrolls.
  function layout() {
    const width = placesEl.clientWidth;
    const items = [...placesEl.children];
    if (!items.length || width === 0) return;
    const w = Math.min(PLACE_WIDTH.max, Math.max(PLACE_WIDTH.min, width / items.length));
    const right = Math.max(width, items.length * w); // the row's extent
    const lefts = centres.map((c) => Math.min(Math.max(0, c * width - w / 2), right - w));
    // Pushed right past the column before, then pulled back from the right edge.
    for (let i = 1; i < lefts.length; i++) lefts[i] = Math.max(lefts[i], lefts[i - 1] + w);
    lefts[lefts.length - 1] = Math.min(lefts.at(-1), right - w);
    for (let i = lefts.length - 2; i >= 0; i--) lefts[i] = Math.min(lefts[i], lefts[i + 1] - w);
    items.forEach((item, i) => {
      item.style.width = `${w}px`;
      item.style.marginLeft = `${lefts[i] - (i ? lefts[i - 1] + w : 0)}px`;
    });
  }
  new ResizeObserver(layout).observe(placesEl);

  function closeFix() {
    openPosition = null;
    fixEl.hidden = true;
    fixEl.replaceChildren();
    for (const b of placesEl.querySelectorAll(".place-fix")) b.setAttribute("aria-expanded", "false");
  }

  // One "Wrong?" panel for the whole number, below the columns, opened for one digit at a time.
  function toggleFix(position, digits, image, button) {
    if (openPosition === position) {
      closeFix();
      return;
    }
    closeFix();
    openPosition = position;
    const { digit } = digits[position];
    const prompt = `Digit ${position + 1} of ${digits.length}, read as ${digit}. It's a …`;
    const onStored = (label) => {
      button.textContent = `Corrected: ${label}`;
      button.closest(".place").classList.add("corrected");
    };
    fixEl.append(
      createCorrection({ prompt, image, predicted: digit, mode: "number", position, onStored }),
    );
    fixEl.hidden = false;
    button.setAttribute("aria-expanded", "true");
    fixEl.querySelector(".fix-digit:not(:disabled)").focus();
  }

  function placeItem({ digit, confidence, top3, preview }, position, digits, image) {
    const item = document.createElement("li");
    item.className = "place";
    item.classList.toggle("unsure", confidence < lowConfidence);
    const big = document.createElement("span");
    big.className = "place-digit";
    big.textContent = digit;
    const seen = document.createElement("img");
    seen.className = "place-preview";
    seen.width = 28;
    seen.height = 28;
    seen.alt = `Digit ${position + 1} as the model sees it, 28 by 28 pixels`;
    if (preview) seen.src = `data:image/png;base64,${preview}`;
    else seen.hidden = true;
    const guesses = document.createElement("ol");
    guesses.className = "place-top3";
    guesses.setAttribute("aria-label", `Top three guesses for digit ${position + 1}`);
    for (const guess of top3 || []) {
      const line = document.createElement("li");
      const name = document.createElement("span");
      name.textContent = guess.digit;
      const value = document.createElement("span");
      value.className = "pct";
      value.textContent = percent(guess.probability);
      line.append(name, value);
      guesses.append(line);
    }
    const fix = document.createElement("button");
    fix.type = "button";
    fix.className = "place-fix";
    fix.textContent = "Wrong?";
    fix.setAttribute("aria-expanded", "false");
    fix.setAttribute("aria-controls", fixEl.id);
    fix.setAttribute("aria-label", `Wrong? Correct digit ${position + 1}, read as ${digit}`);
    fix.addEventListener("click", () => toggleFix(position, digits, image, fix));
    item.append(big, seen, guesses, fix);
    return item;
  }

  // A faint outline over the digit on the pad (CSSOM styles: the CSP forbids style attributes).
  function boxOver(place) {
    const box = document.createElement("div");
    box.className = "digit-box";
    box.style.left = `${place.left * 100}%`;
    box.style.top = `${place.top * 100}%`;
    box.style.width = `${(place.right - place.left) * 100}%`;
    box.style.height = `${(place.bottom - place.top) * 100}%`;
    return box;
  }

  function showPlaces(digits, image) {
    // A newer answer to the same drawing may land while the person is on a "Wrong?" button:
    // the same position's new button keeps the focus.
    const buttons = () => [...placesEl.querySelectorAll(".place-fix")];
    const focused = buttons().indexOf(document.activeElement);
    clearPlaces();
    const places = digits.map((d) => (d.box ? pad.placeOf(d.box) : null));
    // Without a box or an image on the pad, the columns share the width evenly.
    centres = places.map((p, i) => (p ? (p.left + p.right) / 2 : (i + 0.5) / digits.length));
    placesEl.append(...digits.map((d, i) => placeItem(d, i, digits, image)));
    boxesEl.append(...places.filter(Boolean).map(boxOver));
    layout();
    if (focused >= 0 && focused < digits.length) buttons()[focused].focus();
  }

  function statusFor(answer, fromUpload) {
    const unsure = answer.digits
      .map((d, i) => ({ ...d, position: i + 1 }))
      .filter((d) => d.confidence < lowConfidence);
    if (!unsure.length) {
      const who = fromUpload ? "your image" : "your drawing";
      return ["ok", `Reads ${who} as ${answer.number}, ${percent(answer.confidence)} confident.`];
    }
    if (unsure.length === 1) {
      const [{ position, top3 }] = unsure;
      const alt = top3.length > 1 ? ` or ${top3[1].digit}` : "";
      return ["unsure", `Not sure about digit ${position}: maybe ${top3[0].digit}${alt}.`];
    }
    const list = unsure.map((d) => d.position);
    return ["unsure", `Not sure about digits ${list.slice(0, -1).join(", ")} and ${list.at(-1)}.`];
  }

  function showEmpty() {
    clearPlaces();
    showNumber("–", true);
    showMessage("empty", "Draw a number to see what the model reads.");
  }

  function showUnavailable() {
    clearPlaces();
    showNumber("–", true);
    showMessage("unavailable", "Model server unavailable. Retrying automatically…");
  }

  function showError(message) {
    clearPlaces();
    showNumber("!", true);
    showMessage("error", message);
  }

  // One answer from /api/predict with read=number; sent: {image, fromUpload}, as in render.js.
  function showAnswer(status, answer, { image, fromUpload }) {
    if (status === 200 && answer && Array.isArray(answer.digits)) {
      const [state, text] = statusFor(answer, fromUpload);
      showNumber(answer.number, false);
      showMessage(state, text);
      showPlaces(answer.digits, image);
    } else if (status === 422) {
      clearPlaces();
      showNumber("?", true);
      showMessage("no-digit", (answer && answer.message) || "No digit found.");
    } else {
      showError((answer && answer.message) || `Unexpected answer (${status}).`);
    }
  }

  return { showEmpty, showUnavailable, showError, showAnswer };
}
