"""bench.feedback_gain: the stratified split, the corrected digits written and read back, and one
tiny end-to-end run (stand-in model size, synthetic MNIST, a few seconds)."""

from __future__ import annotations

import csv
import dataclasses
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from bench.feedback_gain import Config, corrected_digits, measure, recipe, split_holdout, write_part
from bench.realistic_digits import render_sample
from bench.realistic_eval import Sample, load_labels
from handler.preprocess import preprocess
from tests.unit.training.conftest import make_synthetic_mnist
from training.extra_data import load_extra


def group_samples(sizes: dict[tuple[str, int], int]) -> list[Sample]:
    """`n` samples per (category, digit), listed in a scrambled order."""
    samples = [
        Sample(f"{category}_{digit}_{i}.png", category, digit, "plain")
        for (category, digit), n in sizes.items()
        for i in range(n)
    ]
    return [samples[i] for i in np.random.default_rng(7).permutation(len(samples))]


SIZES = {("canvas", 1): 10, ("canvas", 7): 7, ("photo", 1): 4, ("photo", 7): 1}


def held_files(samples: list[Sample], share: float = 0.5, seed: int = 0) -> set[str]:
    return {samples[i].file for i in split_holdout(samples, share, seed)[1]}


def test_split_holds_out_the_share_of_every_category_and_digit() -> None:
    samples = group_samples(SIZES)
    training, held_out = split_holdout(samples, 0.5, 0)
    assert sorted(training + held_out) == list(range(len(samples)))  # disjoint, complete
    held = Counter((samples[i].category, samples[i].digit) for i in held_out)
    # Halves rounded up: 7 → 4, 1 → 1.
    assert held == {("canvas", 1): 5, ("canvas", 7): 4, ("photo", 1): 2, ("photo", 7): 1}
    assert Counter((samples[i].category, samples[i].digit) for i in training) == {
        ("canvas", 1): 5,
        ("canvas", 7): 3,
        ("photo", 1): 2,
    }


def test_split_is_fixed_by_its_seed_not_by_the_listing_order() -> None:
    samples = group_samples(SIZES)
    assert held_files(samples) == held_files(list(reversed(samples)))
    assert held_files(samples, seed=1) != held_files(samples)
    assert len(held_files(samples, share=0.3)) == 3 + 2 + 1 + 0


@pytest.mark.parametrize("share", [0.0, 1.0, -0.2])
def test_split_needs_a_share_strictly_between_0_and_1(share: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        split_holdout(group_samples(SIZES), share, 0)


def test_corrections_are_the_handlers_digits_written_as_a_digit_dataset(
    realistic_set: Path, tmp_path: Path
) -> None:
    samples = load_labels(realistic_set)
    digits = corrected_digits(realistic_set, samples)
    assert sorted(digits) == list(range(20))  # the blank canvas (sample 20) is refused
    assert np.array_equal(digits[3], preprocess((realistic_set / samples[3].file).read_bytes()))

    write_part(tmp_path / "part", realistic_set, samples, [20, 3, 12], digits)
    extra = load_extra(tmp_path / "part")
    assert extra.labels.tolist() == [samples[3].digit, samples[12].digit]
    assert np.array_equal(extra.images[0].numpy(), digits[3])
    with (tmp_path / "part" / "labels.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["category"], r["original_file"]) for r in rows] == [
        ("canvas", f"originals/{samples[3].file}"),
        ("small", f"originals/{samples[12].file}"),
    ]
    assert (tmp_path / "part" / rows[1]["original_file"]).read_bytes() == (
        realistic_set / samples[12].file
    ).read_bytes()


def tiny_realistic(folder: Path) -> Path:
    """Two canvas and two small samples of each digit, as bench.realistic_digits lays them out."""
    folder.mkdir()
    rows = []
    for category in ("canvas", "small"):
        for digit in range(10):
            for index in range(2):
                data, extension, style = render_sample(category, digit, index)
                name = f"{category}_{digit}_{index}.{extension}"
                (folder / name).write_bytes(data)
                rows.append({"file": name, "category": category, "digit": digit, "style": style})
    with (folder / "labels.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file", "category", "digit", "style"])
        writer.writeheader()
        writer.writerows(rows)
    return folder


def test_a_tiny_run_trains_both_arms_per_seed_and_never_scores_the_test_set(
    tmp_path: Path, template_model: Path
) -> None:
    config = Config(
        realistic=tiny_realistic(tmp_path / "realistic"),
        out=tmp_path / "out",
        seeds=2,
        epochs=1,
        weight=3.0,
        shipped=template_model,
    )
    base = dataclasses.replace(
        recipe(config), width=8, val_size=100, subset=200, batch_size=50, data_dir="unused"
    )
    result = measure(config, base, make_synthetic_mnist(n_train=400, n_test=10))

    assert result["split"] == {
        "rule": "0.5 of each (category, digit) group held out, seed 0",
        "training": 20,
        "held_out": 20,
        "refused": 0,
    }
    assert [(r["seed"], r["arm"]) for r in result["runs"]] == [
        (0, "without"),
        (0, "with"),
        (1, "without"),
        (1, "with"),
    ]
    for run in result["runs"]:
        assert 0 <= run["heldout_accuracy"] <= 1
        assert set(run["heldout_per_category"]) == {"canvas", "small"}
        if run["arm"] == "with":
            assert run["extra_data"]["count"] == 20 and run["extra_data"]["per_epoch"] == 60
        else:
            assert run["extra_data"] is None
        run_dir = config.out / "runs" / f"{run['arm']}-seed-{run['seed']}"
        assert (run_dir / "best.pt").exists()
        assert not (run_dir / "report.json").exists()  # no final report: no test-set score
    assert 0 <= result["shipped_heldout_accuracy"] <= 1
    gains = [
        result["runs"][i + 1]["heldout_accuracy"] - result["runs"][i]["heldout_accuracy"]
        for i in (0, 2)
    ]
    assert result["summary"]["heldout_gain"]["mean"] == pytest.approx(np.mean(gains))
    assert result["summary"]["heldout_gain"]["sd"] == pytest.approx(np.std(gains, ddof=1))

    saved = json.loads((config.out / "results.json").read_text())
    assert saved["summary"] == result["summary"] and "partial" not in saved
    table = (config.out / "results.md").read_text()
    assert "| **mean ± sd** (2 seeds) |" in table and "| canvas |" in table
    assert "width 8" in table and "weight 3" in table
    assert len(load_extra(config.out / "corrections").labels) == 20
