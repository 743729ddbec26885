"""Train the digit check: is this 28×28 one whole digit (which?), or a part of one, or a pair?

Reading a number (handler.segment) tries several ways of cutting a wide piece of ink in two. The
model, trained on single digits, is sure of many wrong answers: the left two thirds of a 0 read
as a 6, two touching digits read as one 8. The digit check is a second, small network that the
segmenter asks about every candidate; its log probability that the candidate is one whole digit
(any of the ten) is added to the model's log confidence (SegmentConfig.check_weight).

    python -m tools.digit_check          # or: make digit-check (about 14 minutes on 2 cores)

What it learns from is what the segmenter really produces: strings of MNIST *training* digits (the
55,000 of make train's training split; bench.number_strings, both sets, both styles) go through the
handler's ink stage and the segmenter's own pieces and cuts, and each candidate is labelled from
the string's per-digit ink: with that digit's label when at least `purity` of its ink comes from
one digit and it holds at least `completeness` of that digit's ink, else "not one digit" (an
eleventh class). The segmenter uses the sum of the ten digit classes; the digit it says is not used
to read the number. A piece that is not one whole digit is followed into the first of its cuts that
gives at least one whole half, as a right decision would cut it. The validation digits are left for
choosing the segmentation parameters, and the MNIST test digits are never used: the number set's
report (`make bench-numbers`) is made of them.

Writes training/shipped/digit_check.pt (TorchScript, packed into the .mar beside the model) and
digit_check.json (the data, the held-out accuracy, the time).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from bench.number_strings import SETS, NumberString, generate, mnist_digits
from handler.limits import InputError, Limits
from handler.normalize import normalize_digit, scale_pixels
from handler.preprocess import Ink, find_ink
from handler.segment import Piece, SegmentConfig, crop, cut_halves, line_pieces, merge_pieces
from tools.cli import parse_config
from tools.fit import FitSettings, fit
from tools.paths import SHIPPED_DIGIT_CHECK


@dataclass
class DigitCheckConfig:
    """What the check learns from, and how."""

    strings: int = 2000  # strings per set ("apart", "touching") of MNIST training digits
    seed: int = 7  # the strings drawn (segmentation parameters: validation digits, seed 41)
    purity: float = 0.9  # "one whole digit": this share of the candidate's ink is one digit's…
    completeness: float = 0.85  # …and it holds this share of that digit's ink
    epochs: int = 4
    batch_size: int = 256
    lr: float = 4e-3  # peak of the one-cycle schedule (AdamW)
    weight_decay: float = 1e-4
    held_out_every: int = 10  # every 10th string's candidates are kept out of training, to score
    torch_seed: int = 0
    out: Path = SHIPPED_DIGIT_CHECK  # and digit_check.json beside it


NOT_ONE_DIGIT = 10  # the class after the ten digits: a part of a digit, or several


def network() -> nn.Module:
    """A small CNN: 28×28 → logits (the ten digits whole, then not one digit). ~40k weights."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 3 * 3, 64),
        nn.ReLU(),
        nn.Linear(64, NOT_ONE_DIGIT + 1),
    )


# ---- the candidates, labelled ---------------------------------------------------------------


class Labeller:
    """Which digits of a string a piece of its ink map holds, from the string's per-digit ink."""

    def __init__(self, string: NumberString, ink: Ink) -> None:
        assert string.digit_ink is not None
        self.ink, self.digit_ink, self.labels = ink, string.digit_ink, string.labels
        rows, columns = np.nonzero(ink.strength)
        self.totals = self._shares(rows, columns)  # each digit's ink in the whole map

    def shares(self, piece: Piece) -> np.ndarray:
        """Each digit's ink inside the piece (weighted by ink strength), in the string's order."""
        return self._shares(piece.rows, piece.columns)

    def _shares(self, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
        (width, height), (work_rows, work_columns), (top, left) = (
            self.ink.sent_size,
            self.ink.work_shape,
            self.ink.origin,
        )
        _, image_rows, image_columns = self.digit_ink.shape
        y = np.minimum(((rows + top + 0.5) * height / work_rows).astype(np.int64), image_rows - 1)
        x = np.minimum(
            ((columns + left + 0.5) * width / work_columns).astype(np.int64), image_columns - 1
        )
        return self.digit_ink[:, y, x] @ self.ink.strength[rows, columns].astype(np.float64)

    def label(self, piece: Piece, config: DigitCheckConfig) -> int:
        """The digit the piece is, when it is one whole digit; else NOT_ONE_DIGIT."""
        shares = self.shares(piece)
        best = int(np.argmax(shares))
        purity = shares[best] / max(shares.sum(), 1e-9)
        completeness = shares[best] / max(self.totals[best], 1e-9)
        whole = purity >= config.purity and completeness >= config.completeness
        return self.labels[best] if whole else NOT_ONE_DIGIT


def candidates(
    string: NumberString, limits: Limits, segment: SegmentConfig, config: DigitCheckConfig
) -> tuple[list[np.ndarray], list[int]]:
    """Every piece and half the segmenter looks at in this string, normalised, and its label."""
    ink = find_ink(string.data, limits)
    labeller = Labeller(string, ink)
    digits, labels = [], []

    def visit(piece: Piece, depth: int) -> None:
        pieces_seen = [piece]
        halves = []
        if depth < segment.split_depth and piece.width / piece.height > segment.split_aspect:
            halves = cut_halves(piece, ink.strength, segment)
            pieces_seen += [half for pair in halves for half in pair]
        seen_labels = [labeller.label(seen, config) for seen in pieces_seen]
        whole = [label != NOT_ONE_DIGIT for label in seen_labels]
        for seen in pieces_seen:
            digits.append(normalize_digit(crop(seen, ink.strength), limits.min_stroke))
        labels.extend(seen_labels)
        if whole[0]:
            return
        for i, (left, right) in enumerate(halves):  # follow the first cut with a whole half
            if whole[1 + 2 * i] or whole[2 + 2 * i]:
                visit(left, depth + 1)
                visit(right, depth + 1)
                return

    for piece in merge_pieces(line_pieces(ink.strength, segment), segment):
        visit(piece, 0)
    return digits, labels


def harvest(config: DigitCheckConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(digits uint8 (N, 28, 28), labels (N,), string index (N,)) over both sets."""
    images, labels = mnist_digits("train")
    limits, segment = Limits(), SegmentConfig()
    digits: list[np.ndarray] = []
    whole: list[int] = []
    owner: list[int] = []
    index = 0
    for which in SETS:
        for count, string in enumerate(
            generate(images, labels, which, config.strings, config.seed, digit_ink=True), 1
        ):
            try:
                found, label = candidates(string, limits, segment, config)
            except InputError:  # a string the ink stage refuses teaches nothing
                continue
            digits += found
            whole += label
            owner += [index] * len(found)
            index += 1
            if count % 500 == 0:
                print(f"  {which}: {count}/{config.strings} strings, {len(whole)} candidates")
    return np.stack(digits), np.array(whole), np.array(owner)


# ---- training --------------------------------------------------------------------------------


def train(
    digits: np.ndarray, labels: np.ndarray, owner: np.ndarray, config: DigitCheckConfig
) -> tuple[nn.Module, float]:
    """Fit the network; return it and its accuracy on the held-out strings' candidates."""
    torch.manual_seed(config.torch_seed)
    x = scale_pixels(torch.from_numpy(digits)).unsqueeze(1)
    held = torch.from_numpy(owner % config.held_out_every == 0)
    model = network()
    settings = FitSettings(config.epochs, config.batch_size, config.lr, config.weight_decay)
    return model, fit(model, x, torch.from_numpy(labels), held, settings)


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_config(DigitCheckConfig, argv)
    start = time.perf_counter()
    print(f"Harvesting the segmenter's candidates from 2 × {config.strings} strings…")
    digits, labels, owner = harvest(config)
    harvested = time.perf_counter() - start
    whole = float((labels != NOT_ONE_DIGIT).mean())
    print(f"{len(labels)} candidates, {whole:.1%} whole digits ({harvested:.0f} s)")
    model, accuracy = train(digits, labels, owner, config)
    config.out.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.save(torch.jit.script(model), str(config.out))
    report = {
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
        "candidates": len(labels),
        "whole_share": round(whole, 4),
        "held_out_accuracy": round(accuracy, 4),
        "seconds": round(time.perf_counter() - start, 1),
    }
    config.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"Wrote {config.out} (held-out accuracy {accuracy:.2%}, {report['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
