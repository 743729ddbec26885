// Images other than a drawing: the file picker, drag and drop onto the pad, and paste anywhere
// on the page. Each hands one file to onFile.

export function listenForFiles({ fileInput, dropzone, onFile }) {
  fileInput.addEventListener("change", () => {
    onFile(fileInput.files[0]);
    fileInput.value = ""; // choosing the same file again still triggers a change
  });

  dropzone.addEventListener("dragover", (event) => {
    event.preventDefault(); // allows the drop (and stops the browser opening the file)
    dropzone.classList.add("dragging");
  });
  dropzone.addEventListener("dragleave", () => dropzone.classList.remove("dragging"));
  dropzone.addEventListener("drop", (event) => {
    event.preventDefault();
    dropzone.classList.remove("dragging");
    onFile(event.dataTransfer.files[0]);
  });

  document.addEventListener("paste", (event) => {
    const file = [...event.clipboardData.files].find((f) => f.type.startsWith("image/"));
    if (file) {
      event.preventDefault();
      onFile(file);
    }
  });
}
