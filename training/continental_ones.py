"""MNIST's 1s written the continental way: a flag from the top, sometimes a base.

MNIST's writers were American: almost all of its 1s are plain sticks. Many people start a 1 with
a long up-stroke (a flag) and some add a base, and a model that never saw one reads it as a 7.
This draws a flag, and sometimes a base, onto a raw MNIST 1, in MNIST's own stroke width and
anti-aliasing. `tools.normalised_mnist` runs the result through the handler like every other
digit, so training sees these 1s as they are served (the flag changes the digit's box, so it
must be added before normalising). `FlaggedOnes` hands them to training.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from training.data import Mnist

INK = 64  # raw MNIST pixels above this are the stick's ink
DETAIL = 8  # drawn at 8× and box-averaged back down, for MNIST-like anti-aliased edges
FLAG_LENGTH = (0.2, 0.45)  # the flag's length, as a fraction of the stick's
FLAG_ANGLE_DEG = (25.0, 50.0)  # the angle between the flag and the stick (wider reads as a 7)
# …and at most this far from the page's vertical: on a stick leaning right, a flag at 50° to the
# stick is nearly level, a 7's bar. Sticks leaning too far for a 20° flag get none.
MAX_FLAG_FROM_VERTICAL_DEG = 55.0
MIN_FLAG_ANGLE_DEG = 20.0
MIN_ELONGATION = 3.0  # a stick: its ink is this many times longer than wide (else no flag)
P_BASE = 0.25  # chance of a base line across the foot as well


def add_flag(one: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """A raw uint8 (28, 28) MNIST 1 → the same 1 with a flag (and maybe a base) drawn on.

    None when the 1 is not a straight stick (curved or hooked 1s could turn into 2s or 7s).
    """
    rows, cols = np.nonzero(one > INK)
    if len(rows) < 2:
        return None
    points = np.stack([cols, rows], axis=1).astype(np.float64)
    centre = points.mean(axis=0)
    # The stick's direction: the principal axis of its ink, pointing down the page.
    _, spread, axes = np.linalg.svd(points - centre, full_matrices=False)
    if spread[0] < MIN_ELONGATION * max(spread[1], 1e-6):
        return None
    down = axes[0] if axes[0][1] >= 0 else -axes[0]
    along = (points - centre) @ down
    top, foot = centre + along.min() * down, centre + along.max() * down
    length = float(along.max() - along.min())
    width = max(1.5, float((one > INK).sum()) / max(length, 1.0))  # ink area / stick length

    # The flag leaves the top towards the left and down, at an acute angle to the stick.
    left = np.array([-down[1], down[0]])  # x ≤ 0, since down's y ≥ 0
    lean = np.degrees(np.arctan2(-down[0], down[1]))  # > 0: the top leans right, as in "/"
    widest = MAX_FLAG_FROM_VERTICAL_DEG - lean
    if widest < MIN_FLAG_ANGLE_DEG:
        return None
    angle = np.radians(min(rng.uniform(*FLAG_ANGLE_DEG), widest))
    direction = np.sin(angle) * left + np.cos(angle) * down
    flag_end = top + direction * rng.uniform(*FLAG_LENGTH) * length

    canvas = np.zeros((28 * DETAIL, 28 * DETAIL), dtype=np.uint8)
    _stroke(canvas, top, flag_end, width)
    if rng.random() < P_BASE:
        half = rng.uniform(0.2, 0.3) * length
        across = np.array([half, 0.0])  # drawn level, whatever the stick's slant
        _stroke(canvas, foot - across, foot + across, width)
    drawn = cv2.resize(canvas, (28, 28), interpolation=cv2.INTER_AREA)
    # Scaled to the stick's own brightness, combined as ink over ink.
    drawn = (drawn.astype(np.float32) * (float(one.max()) / 255.0)).astype(np.uint8)
    return np.maximum(one, drawn)


def _stroke(canvas: np.ndarray, start: np.ndarray, end: np.ndarray, width: float) -> None:
    """A round-capped line in 28-pixel coordinates, drawn at DETAIL× scale."""
    # Pixel centres sit at +0.5 in the 28-pixel grid.
    a, b = (tuple(round((float(v) + 0.5) * DETAIL) for v in p) for p in (start, end))
    cv2.line(canvas, a, b, 255, thickness=max(1, round(width * DETAIL)), lineType=cv2.LINE_AA)


@dataclass
class FlaggedOnes:
    """The served cache's flagged 1s, split like the digits they were drawn from."""

    variant: torch.Tensor  # per training-split position: row in `images` of its flagged 1, or −1
    images: torch.Tensor  # uint8 (K, 28, 28), the flagged 1s as served
    val_images: torch.Tensor  # those drawn from validation 1s: scored, never trained on
    val_source: torch.Tensor  # their index in the training images

    @classmethod
    def of(cls, mnist: Mnist, train_idx: torch.Tensor, val_idx: torch.Tensor) -> FlaggedOnes | None:
        """None when the data set has no flagged 1s (raw tensors, or an older cache)."""
        if mnist.served_flagged is None or mnist.served_train is None:
            return None
        row_of = torch.full((len(mnist.train_labels),), -1, dtype=torch.long)
        row_of[mnist.flagged_source] = torch.arange(len(mnist.flagged_source))
        in_val = torch.isin(mnist.flagged_source, val_idx)
        return cls(
            row_of[train_idx],
            mnist.served_flagged,
            mnist.served_flagged[in_val],
            mnist.flagged_source[in_val],
        )

    def swap_in(
        self, batch: torch.Tensor, idx: torch.Tensor, p: float, gen: torch.Generator
    ) -> torch.Tensor:
        """The batch with each 1 that has a flagged copy swapped for it with probability `p`.

        `idx` are training-split positions; those past the split (extra data) are never swapped.
        """
        row = torch.full_like(idx, -1)
        inside = idx < len(self.variant)
        row[inside] = self.variant[idx[inside]]
        swap = (row >= 0) & (torch.rand(len(idx), generator=gen) < p)
        batch = batch.clone()
        batch[swap] = self.images[row[swap]]
        return batch
