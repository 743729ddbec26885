"""Train the pair reader: is this wide piece of ink two touching digits (which two?), one digit,
or something else?

Reading a number (handler.segment) must find two digits in one blob of ink when they touch. Cuts
alone fall short there: often no cut gives two halves that each look like one whole digit (a 1
leaning on its neighbour, strokes crossing). The pair reader reads the blob whole, as people do:
a small CNN over the piece normalised into 28×56 (handler.normalize.normalize_pair), with 102
classes: the hundred pairs "00"–"99", one digit, and anything else. The segmenter asks it about
every piece wider than `split_aspect`; what it then does with the answer is in handler.segment.

    python -m tools.pair_reader          # or: make pair-reader (about 45 minutes on 2 cores)

The network has three heads over one trunk: what the piece is (a pair, one digit, anything else),
the pair's first digit and its second. Its output is the log probability of each of the 102
classes, log P(pair) + log P(first = a) + log P(second = b) for "ab": each digit head learns from
every pair, not from the few hundred pieces of each of a hundred joint classes.

What it learns from is what the segmenter really produces: strings of MNIST digits
(bench.number_strings) go through the handler's ink stage and the segmenter's pieces, and each
wide piece is labelled from the string's per-digit ink (tools.digit_check.Labeller). Two kinds of
string: two-digit strings whose digits touch (the pairs), and whole lines of both sets (one-digit
pieces, and pairs among other digits). It trains on strings of the 55,000 training digits and is
scored on strings of the 5,000 validation digits, which it never sees; the MNIST test digits are
never used: the number set's report (`make bench-numbers`) is made of them.

A temperature, fitted on the validation pieces, is stored inside the TorchScript module, so the
probabilities the handler answers for a pair's digits are calibrated like the model's.

Writes training/shipped/pair_reader.pt (packed into the .mar) and pair_reader.json (the data, the
validation accuracy, the temperature, the time).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import torch
from torch import nn

from bench.number_strings import NumberString, StringConfig, generate, mnist_digits
from handler.limits import InputError, Limits
from handler.normalize import PAIR_FIELD, normalize_pair, scale_pixels
from handler.preprocess import find_ink
from handler.segment import (
    NOT_A_PAIR,
    ONE_DIGIT,
    Piece,
    SegmentConfig,
    crop,
    line_pieces,
    merge_pieces,
)
from tools.cli import parse_config
from tools.digit_check import Labeller
from tools.fit import FitSettings, fit, logits
from tools.paths import SHIPPED_PAIR_READER
from training.calibrate import Calibrated, expected_calibration_error, fit_temperature


@dataclass
class PairReaderConfig:
    """What the pair reader learns from, and how."""

    pair_strings: int = 48000  # two-digit strings of MNIST training digits that touch
    line_strings: int = 8000  # and lines of 2–6 digits, per set ("apart", "touching")
    val_pair_strings: int = 4000  # the same of MNIST validation digits, to score it on…
    val_line_strings: int = 1000  # …and to fit its temperature
    seed: int = 11  # the strings drawn (segmentation parameters: validation digits, seed 41)
    chunk: int = 2000  # strings per job, a progress line each
    purity: float = 0.9  # "one digit": this share of the piece's ink is one digit's…
    pair_purity: float = 0.95  # "a pair": this share is two neighbours'…
    completeness: float = 0.85  # …holding this share of each one's ink
    epochs: int = 10
    batch_size: int = 256
    lr: float = 3e-3  # peak of the one-cycle schedule (AdamW)
    weight_decay: float = 1e-4
    label_smoothing: float = 0.0
    torch_seed: int = 0
    workers: int = 0  # harvesting processes; 0: one per core
    out: Path = SHIPPED_PAIR_READER  # and pair_reader.json beside it


class PairReader(nn.Module):
    """28×56 piece → log probabilities of the 102 classes (the pairs 00–99, one digit, anything
    else), from three heads: what the piece is, the pair's first digit, its second. ~0.8M
    weights."""

    def __init__(self) -> None:
        super().__init__()
        self.trunk = nn.Sequential(
            _conv_bn(1, 32),
            nn.MaxPool2d(2),
            _conv_bn(32, 64),
            nn.MaxPool2d(2),
            _conv_bn(64, 128),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Dropout(0.2),
            nn.Linear(128 * 3 * 7, 256),
            nn.ReLU(),
        )
        # What the piece is: a pair, one digit, anything else (the order of the last classes).
        self.kind = nn.Linear(256, 3)
        self.first = nn.Linear(256, 10)
        self.second = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.trunk(x)
        kind = torch.log_softmax(self.kind(features), dim=1)
        first = torch.log_softmax(self.first(features), dim=1)
        second = torch.log_softmax(self.second(features), dim=1)
        pairs = kind[:, :1] + (first[:, :, None] + second[:, None, :]).flatten(1)
        return torch.cat([pairs, kind[:, 1:]], dim=1)


def _conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()
    )


# ---- the pieces, labelled -------------------------------------------------------------------


def label(labeller: Labeller, piece: Piece, config: PairReaderConfig) -> int:
    """10·a + b when the piece is two neighbouring digits a, b (in reading order), ONE_DIGIT
    when it is one whole digit, NOT_A_PAIR otherwise (a part, three digits…)."""
    shares = labeller.shares(piece)
    total = max(float(shares.sum()), 1e-9)
    complete = shares / np.maximum(labeller.totals, 1e-9) >= config.completeness
    first, second = np.argsort(-shares, kind="stable")[:2]
    if shares[first] / total >= config.purity and complete[first]:
        return ONE_DIGIT
    pure = (shares[first] + shares[second]) / total >= config.pair_purity
    if pure and complete[first] and complete[second] and abs(int(first) - int(second)) == 1:
        a, b = sorted((int(first), int(second)))
        return labeller.labels[a] * 10 + labeller.labels[b]
    return NOT_A_PAIR


def wide_pieces(
    string: NumberString, limits: Limits, segment: SegmentConfig, config: PairReaderConfig
) -> tuple[list[np.ndarray], list[int]]:
    """The string's pieces the segmenter would show the pair reader, normalised, and labelled."""
    ink = find_ink(string.data, limits)
    labeller = Labeller(string, ink)
    found, classes = [], []
    for piece in merge_pieces(line_pieces(ink.strength, segment), segment):
        if piece.width / piece.height > segment.split_aspect:
            found.append(normalize_pair(crop(piece, ink.strength), limits.min_stroke))
            classes.append(label(labeller, piece, config))
    return found, classes


def harvest_job(
    job: tuple[str, str, bool, int, int, PairReaderConfig],
) -> tuple[np.ndarray, np.ndarray]:
    """One chunk of strings → its wide pieces normalised (N, 28, 56) and their labels."""
    split, which, pairs_only, count, seed, config = job
    images, labels = mnist_digits(split)
    strings = StringConfig(min_digits=2, max_digits=2) if pairs_only else StringConfig()
    limits, segment = Limits(), SegmentConfig()
    found: list[np.ndarray] = []
    classes: list[int] = []
    for string in generate(images, labels, which, count, seed, strings, digit_ink=True):
        try:
            pieces, kinds = wide_pieces(string, limits, segment, config)
        except InputError:  # a string the ink stage refuses teaches nothing
            continue
        for piece, kind in zip(pieces, kinds, strict=True):
            if pairs_only and kind >= ONE_DIGIT:
                continue  # these strings are for pairs; lines teach the rest
            found.append(piece)
            classes.append(kind)
    if not found:
        return np.zeros((0, *PAIR_FIELD), np.uint8), np.zeros(0, np.int64)
    return np.stack(found), np.array(classes)


def harvest(config: PairReaderConfig) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{"train": …, "val": …}: (pieces uint8 (N, 28, 56), labels (N,)) from strings of MNIST
    training and validation digits, every chunk of strings a job, run in parallel."""
    jobs = []
    for split, pairs, lines in (
        ("train", config.pair_strings, config.line_strings),
        ("val", config.val_pair_strings, config.val_line_strings),
    ):
        for which, pairs_only, total in (
            ("touching", True, pairs),
            ("apart", False, lines),
            ("touching", False, lines),
        ):
            for start in range(0, total, config.chunk):
                seed = config.seed * 1_000_003 + len(jobs)  # every job its own strings
                count = min(config.chunk, total - start)
                jobs.append((split, which, pairs_only, count, seed, config))
    found: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {"train": [], "val": []}
    with Pool(config.workers or os.cpu_count() or 1) as pool:
        for done, (job, result) in enumerate(
            zip(jobs, pool.imap(harvest_job, jobs), strict=True), 1
        ):
            found[job[0]].append(result)
            pieces = sum(len(labels) for results in found.values() for _, labels in results)
            print(f"  {done}/{len(jobs)} chunks of strings, {pieces} pieces", flush=True)
    return {
        split: (np.concatenate([p for p, _ in results]), np.concatenate([y for _, y in results]))
        for split, results in found.items()
    }


# ---- training ------------------------------------------------------------------------------


def train(
    data: dict[str, tuple[np.ndarray, np.ndarray]], config: PairReaderConfig
) -> tuple[nn.Module, float, dict[str, float]]:
    """Fit the network on the training pieces and its temperature on the validation pieces;
    return it, the validation accuracy, and more validation figures: the accuracy on pairs and
    on one-digit pieces, the calibration error before and after the temperature."""
    torch.manual_seed(config.torch_seed)
    pieces = np.concatenate([data["train"][0], data["val"][0]])
    x = scale_pixels(torch.from_numpy(pieces)).unsqueeze(1)
    y = torch.from_numpy(np.concatenate([data["train"][1], data["val"][1]])).long()
    held = torch.arange(len(y)) >= len(data["train"][1])
    model = PairReader()
    settings = FitSettings(
        config.epochs,
        config.batch_size,
        config.lr,
        config.weight_decay,
        shift=(1, 2),  # a pixel up or down, two sideways (the pair's field is wide)
        label_smoothing=config.label_smoothing,
    )
    accuracy = fit(model, x, y, held, settings)
    held_logits, held_labels = logits(model, x[held]), y[held]
    temperature = fit_temperature(held_logits, held_labels)
    right = held_logits.argmax(dim=1) == held_labels
    figures = {
        "pairs": float(right[held_labels < ONE_DIGIT].float().mean()),
        "one_digit": float(right[held_labels == ONE_DIGIT].float().mean()),
        "ece_before": expected_calibration_error(held_logits.softmax(dim=1), held_labels),
        "ece_after": expected_calibration_error(
            (held_logits / temperature).softmax(dim=1), held_labels
        ),
        "temperature": temperature,
    }
    return Calibrated(model, temperature).eval(), accuracy, figures


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_config(PairReaderConfig, argv)
    start = time.perf_counter()
    print(
        f"Harvesting wide pieces from {config.pair_strings} touching pairs and "
        f"2 × {config.line_strings} lines of MNIST training digits, and "
        f"{config.val_pair_strings} and 2 × {config.val_line_strings} of validation digits…"
    )
    data = harvest(config)
    harvested = time.perf_counter() - start
    counts = {
        split: {
            "pairs": int((labels < ONE_DIGIT).sum()),
            "one_digit": int((labels == ONE_DIGIT).sum()),
            "other": int((labels == NOT_A_PAIR).sum()),
        }
        for split, (_, labels) in data.items()
    }
    print(f"Pieces {counts} ({harvested:.0f} s); training…")
    model, accuracy, figures = train(data, config)
    config.out.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.save(torch.jit.script(model), str(config.out))
    report = {
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
        "pieces": counts,
        "val_accuracy": round(accuracy, 4),
        **{f"val_{k}": round(v, 4) for k, v in figures.items()},
        "seconds": round(time.perf_counter() - start, 1),
    }
    config.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"Wrote {config.out} (validation accuracy {accuracy:.2%}: pairs {figures['pairs']:.2%}, "
        f"one digit {figures['one_digit']:.2%}; T {figures['temperature']:.3f}, ECE "
        f"{figures['ece_before']:.2%} → {figures['ece_after']:.2%}; {report['seconds']:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
