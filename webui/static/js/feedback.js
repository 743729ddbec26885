// Corrections: the "Wrong? It's a …" panel of ten digits under an answer. A chosen digit goes to
// /api/feedback with the image exactly as it was sent; the panel says what is stored and how
// the server answered (201: stored; 4xx/5xx: its message).

// Shown next to every control: exactly what the server keeps, and what it never keeps.
const STORED_NOTE =
  "Sending stores this image, the 28 × 28 digit the model made of it, the digit you choose, " +
  "the model's answer (in a number, also the digit's place), the time and the model's " +
  "version. Nothing about you: no IP address, no cookies.";

// The original image as a data URL (the canvas PNG or the uploaded file, byte for byte).
function dataUrlOf(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

// POST /api/feedback; resolves to {ok, text} for the status line.
async function sendCorrection(body) {
  let response;
  let answer = null;
  try {
    response = await fetch("/api/feedback", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    answer = await response.json().catch(() => null);
  } catch {
    return { ok: false, text: "Not sent: the web UI cannot be reached. Try again later." };
  }
  if (response.status === 201 && answer) {
    return { ok: true, text: `Thanks: stored as a ${body.label} (correction #${answer.id}).` };
  }
  let text = (answer && answer.message) || `The server answered ${response.status}.`;
  const retryAfter = response.headers.get("Retry-After");
  if (retryAfter && !/\d+\s*s/.test(text)) text += ` Try again in ${retryAfter} s.`;
  return { ok: false, text: `Not stored: ${text}` };
}

// The panel: a prompt, the ten digits, a status line, and what is stored.
// image: the Blob or File that was sent; predicted: the model's digit; mode: "digit" or
// "number"; position: the digit's index in the number (number mode only); onStored(label).
export function createCorrection({ prompt, image, predicted, mode, position, onStored }) {
  const panel = document.createElement("div");
  panel.className = "fix-panel";
  const question = document.createElement("p");
  question.className = "fix-prompt";
  question.textContent = prompt;
  const digits = document.createElement("div");
  digits.className = "fix-digits";
  digits.setAttribute("role", "group");
  digits.setAttribute("aria-label", prompt);
  const status = document.createElement("p");
  status.className = "fix-status";
  status.setAttribute("role", "status");
  const note = document.createElement("p");
  note.className = "fineprint fix-note";
  note.textContent = STORED_NOTE;

  const buttons = [...Array(10).keys()].map((label) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "fix-digit";
    button.textContent = label;
    button.dataset.digit = label;
    if (label === predicted) {
      button.disabled = true; // the model's own answer is no correction
      button.title = "The model's answer";
    } else {
      button.setAttribute("aria-label", `It's a ${label}`);
      button.addEventListener("click", () => correct(label));
    }
    return button;
  });
  digits.append(...buttons);
  panel.append(question, digits, status, note);

  async function correct(label) {
    const setBusy = (busy) => {
      for (const b of buttons) b.disabled = busy || Number(b.dataset.digit) === predicted;
    };
    setBusy(true);
    status.dataset.state = "busy";
    status.textContent = "Sending…";
    const body = { label, predicted, mode };
    if (mode === "number") body.position = position;
    let result;
    try {
      body.image = await dataUrlOf(image);
      result = await sendCorrection(body);
    } catch {
      result = { ok: false, text: "Not sent: the image could not be read." };
    }
    status.dataset.state = result.ok ? "ok" : "error";
    status.textContent = result.text;
    if (result.ok) {
      buttons[label].classList.add("chosen");
      if (onStored) onStored(label);
    } else {
      setBusy(false); // let the person try again
    }
  }

  return panel;
}

// Digit mode: the panel behind a "Wrong? It's a …" disclosure (keyboard: Tab, Enter/Space).
export function createCorrectionToggle(options) {
  const details = document.createElement("details");
  details.className = "fix";
  const summary = document.createElement("summary");
  summary.textContent = "Wrong? It's a …";
  details.append(summary, createCorrection({ ...options, prompt: "The right digit is:" }));
  return details;
}
