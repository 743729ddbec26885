"""Turn the bytes people send (canvas drawings, uploads, photos) into an MNIST-style 28×28 digit.

This is the project's only preprocessing implementation. It ships inside the .mar next to the
handler, so it imports nothing else from this repository.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Mean and standard deviation of MNIST's training pixels scaled to [0, 1].
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


def scale_pixels(x: Any) -> Any:
    """Scale uint8-range pixels (numpy array or torch tensor) to the model's input: float32."""
    if isinstance(x, np.ndarray):
        return ((x.astype(np.float32) / 255.0 - MNIST_MEAN) / MNIST_STD).astype(np.float32)
    # A torch tensor: duck-typed so this module does not need torch to be importable.
    return (x.float() / 255.0 - MNIST_MEAN) / MNIST_STD
