// The footer's model card: name, version, test accuracy and size, from /api/model.

export async function showModelCard(card) {
  try {
    const response = await fetch("/api/model");
    const info = await response.json();
    if (!response.ok) throw new Error(info.message);
    const parts = [`Model “${info.name}” v${info.version}, served by TorchServe`];
    if (typeof info.test_accuracy === "number") {
      // Reports may hold a fraction (0.9967) or a percentage (99.67).
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
