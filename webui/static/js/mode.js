// The mode switch: read one digit, or a whole number. Two radio buttons (keyboard: Tab to the
// group, arrow keys to switch); the mode is set on <body data-mode> for the CSS, then onChange.

export function createModeSwitch({ inputs, onChange }) {
  const current = () => inputs.find((input) => input.checked).value;

  function apply() {
    document.body.dataset.mode = current();
    onChange(current());
  }

  for (const input of inputs) input.addEventListener("change", apply);
  document.body.dataset.mode = current(); // the browser may restore a checked "number" on reload
  return { current };
}
