"""Train the pair reader: is this wide piece of ink two touching digits (which two?), one digit,
or something else?

Reading a number (handler.segment) must find two digits in one blob of ink when they touch. Cuts
alone fall short there: often no cut gives two halves that each look like one whole digit (a 1
leaning on its neighbour, strokes crossing). The pair reader reads the blob whole, as people do:
a small CNN over the piece normalised into 28×56 (handler.normalize.normalize_pair), with 102
classes: the hundred pairs "00"–"99", one digit, and anything else. The segmenter asks it about
every piece wider than `split_aspect`; what it then does with the answer is in handler.segment.

    python -m tools.pair_reader          # or: make pair-reader (about 12 minutes on 2 cores)

What it learns from is what the segmenter really produces: strings of MNIST *training* digits
(bench.number_strings) go through the handler's ink stage and the segmenter's pieces, and each
wide piece is labelled from the string's per-digit ink (tools.digit_check.Labeller). Two kinds of
string: two-digit strings whose digits touch (the pairs), and whole lines of both sets (one-digit
pieces, and pairs among other digits). The MNIST test digits are never used: the number set's
report (`make bench-numbers`) is made of them.

A temperature, fitted on the held-out pieces, is stored inside the TorchScript module, so the
probabilities the handler answers for a pair's digits are calibrated like the model's.

Writes training/shipped/pair_reader.pt (packed into the .mar) and pair_reader.json (the data, the
held-out accuracy, the temperature, the time).
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
    seed: int = 11  # the strings drawn (segmentation parameters are chosen on seed 41's)
    chunk: int = 2000  # strings per job, a progress line each
    purity: float = 0.9  # "one digit": this share of the piece's ink is one digit's…
    pair_purity: float = 0.95  # "a pair": this share is two neighbours'…
    completeness: float = 0.85  # …holding this share of each one's ink
    epochs: int = 6
    batch_size: int = 256
    lr: float = 3e-3  # peak of the one-cycle schedule (AdamW)
    weight_decay: float = 1e-4
    label_smoothing: float = 0.05
    held_out_every: int = 10  # every 10th string's pieces are kept out of training, to score
    torch_seed: int = 0
    workers: int = 0  # harvesting processes; 0: one per core
    out: Path = SHIPPED_PAIR_READER  # and pair_reader.json beside it


def network() -> nn.Module:
    """A small CNN: 28×56 → logits (the pairs 00–99, one digit, anything else). ~0.8M weights."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.2),
        nn.Linear(128 * 3 * 7, 256),
        nn.ReLU(),
        nn.Linear(256, NOT_A_PAIR + 1),
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
    job: tuple[str, bool, int, int, PairReaderConfig],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One chunk of strings → its wide pieces normalised (N, 28, 56), their labels, and which
    string of the chunk each came from."""
    which, pairs_only, count, seed, config = job
    images, labels = mnist_digits("train")
    strings = StringConfig(min_digits=2, max_digits=2) if pairs_only else StringConfig()
    limits, segment = Limits(), SegmentConfig()
    found: list[np.ndarray] = []
    classes: list[int] = []
    owners: list[int] = []
    for number, string in enumerate(
        generate(images, labels, which, count, seed, strings, digit_ink=True)
    ):
        try:
            pieces, kinds = wide_pieces(string, limits, segment, config)
        except InputError:  # a string the ink stage refuses teaches nothing
            continue
        for piece, kind in zip(pieces, kinds, strict=True):
            if pairs_only and kind >= ONE_DIGIT:
                continue  # these strings are for pairs; lines teach the rest
            found.append(piece)
            classes.append(kind)
            owners.append(number)
    if not found:
        return np.zeros((0, *PAIR_FIELD), np.uint8), np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.stack(found), np.array(classes), np.array(owners)


def harvest(config: PairReaderConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pieces uint8 (N, 28, 56), labels (N,), string index (N,)), from every job in parallel."""
    jobs = []
    for which, pairs_only, total in (
        ("touching", True, config.pair_strings),
        ("apart", False, config.line_strings),
        ("touching", False, config.line_strings),
    ):
        for start in range(0, total, config.chunk):
            seed = config.seed * 1_000_003 + len(jobs)  # every job its own strings
            jobs.append((which, pairs_only, min(config.chunk, total - start), seed, config))
    pieces, labels, owner = [], [], []
    with Pool(config.workers or os.cpu_count() or 1) as pool:
        for done, (index, (found, classes, strings)) in enumerate(
            pool.imap_unordered(_indexed_job, list(enumerate(jobs))), 1
        ):
            pieces.append(found)
            labels.append(classes)
            owner.append(index * config.chunk + strings)
            print(f"  {done}/{len(jobs)} chunks of strings, {sum(map(len, labels))} pieces")
    order = np.argsort(np.concatenate(owner), kind="stable")  # job order, whatever finished first
    return (
        np.concatenate(pieces)[order],
        np.concatenate(labels)[order],
        np.concatenate(owner)[order],
    )


def _indexed_job(item: tuple[int, tuple]) -> tuple[int, tuple[np.ndarray, ...]]:
    index, job = item
    return index, harvest_job(job)


# ---- training ------------------------------------------------------------------------------


def train(
    pieces: np.ndarray, labels: np.ndarray, owner: np.ndarray, config: PairReaderConfig
) -> tuple[nn.Module, float, dict[str, float]]:
    """Fit the network and its temperature; return it, the held-out accuracy, and more held-out
    figures: the accuracy on pairs and on one-digit pieces, the calibration error before and
    after the temperature (the temperature is fitted on the held-out pieces it is judged on)."""
    torch.manual_seed(config.torch_seed)
    x = scale_pixels(torch.from_numpy(pieces)).unsqueeze(1)
    y = torch.from_numpy(labels).long()
    held = torch.from_numpy(owner % config.held_out_every == 0)
    model = network()
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
        f"2 × {config.line_strings} lines of MNIST training digits…"
    )
    pieces, labels, owner = harvest(config)
    harvested = time.perf_counter() - start
    counts = {
        "pairs": int((labels < ONE_DIGIT).sum()),
        "one_digit": int((labels == ONE_DIGIT).sum()),
        "other": int((labels == NOT_A_PAIR).sum()),
    }
    print(f"{len(labels)} pieces {counts} ({harvested:.0f} s); training…")
    model, accuracy, figures = train(pieces, labels, owner, config)
    config.out.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.save(torch.jit.script(model), str(config.out))
    report = {
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
        "pieces": counts,
        "held_out_accuracy": round(accuracy, 4),
        **{f"held_out_{k}": round(v, 4) for k, v in figures.items()},
        "seconds": round(time.perf_counter() - start, 1),
    }
    config.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"Wrote {config.out} (held-out accuracy {accuracy:.2%}: pairs {figures['pairs']:.2%}, "
        f"one digit {figures['one_digit']:.2%}; T {figures['temperature']:.3f}, ECE "
        f"{figures['ece_before']:.2%} → {figures['ece_after']:.2%}; {report['seconds']:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
