"""training.continental_ones draws a flag on straight 1s only; training swaps served flagged 1s in
for training 1s at the configured rate and never for validation ones."""

from __future__ import annotations

import numpy as np
import torch

from training.continental_ones import FlaggedOnes, add_flag
from training.data import Mnist


def stick(slant: float = 0.0) -> np.ndarray:
    """A raw MNIST-like 1: a 3 px stick from row 4 to row 23, leaning `slant` px per row."""
    one = np.zeros((28, 28), dtype=np.uint8)
    for row in range(4, 24):
        centre = round(14 + slant * (row - 14))
        one[row, centre - 1 : centre + 2] = 250
    return one


def test_a_flag_leaves_the_top_of_the_stick_to_the_left_and_down():
    one = stick()
    flagged = add_flag(one, np.random.default_rng(0))
    added = (flagged > 64) & ~(one > 64)
    rows, cols = np.nonzero(added)
    assert len(rows) >= 6  # a visible stroke, not a dot
    assert cols.min() < 12  # out to the left of the stick (columns 13–15)
    assert rows.max() > 5  # pointing down from the top…
    assert rows.min() >= 2  # …not up past it
    assert np.all(flagged >= one)  # the stick itself is untouched
    assert flagged.max() == one.max()  # the flag is as bright as the stick, no brighter


def test_the_same_generator_state_draws_the_same_flag():
    a = add_flag(stick(0.2), np.random.default_rng(5))
    b = add_flag(stick(0.2), np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)


def test_on_a_stick_leaning_right_the_flag_stays_steep_not_a_7s_bar():
    one = stick(-0.5)  # the top 27° to the right of the foot, like "/"
    for seed in range(5):
        added = (add_flag(one, np.random.default_rng(seed)) > 64) & ~(one > 64)
        added[14:] = False  # the upper half: the flag, not a base
        rows, cols = np.nonzero(added)
        top = np.array([4.0, 14 - 0.5 * (4 - 14)])  # row, column of the stick's top
        down, across = rows.mean() - top[0], top[1] - cols.mean()  # to the flag's middle
        assert across > 0 and down > 0  # left and down
        # At most 55° from vertical, give or take the stroke's width; a 7's bar is near 90°.
        assert np.degrees(np.arctan2(across, down)) <= 65
    assert add_flag(stick(-1.0), np.random.default_rng(0)) is None  # leans 45°: no room


def test_no_flag_on_a_1_that_is_not_a_straight_stick():
    hooked = stick()
    hooked[20:23, 6:16] = 250  # a long foot: more an L than a stick
    hooked[4:7, 15:24] = 250
    assert add_flag(hooked, np.random.default_rng(0)) is None
    assert add_flag(np.zeros((28, 28), np.uint8), np.random.default_rng(0)) is None


def flagged_mnist() -> Mnist:
    """Six training images: indices 1, 2 and 4 are 1s with flagged copies (rows 0, 1, 2)."""
    labels = torch.tensor([0, 1, 1, 3, 1, 5])
    images = torch.zeros(6, 28, 28, dtype=torch.uint8)
    flagged = (7 + torch.arange(3)).view(3, 1, 1).expand(3, 28, 28).to(torch.uint8)
    return Mnist(
        images,
        labels,
        images[:1],
        labels[:1],
        {},
        served_train=images,
        served_test=images[:1],
        served_flagged=flagged,
        flagged_source=torch.tensor([1, 2, 4]),
    )


def test_flagged_copies_of_validation_1s_are_scored_never_swapped_in():
    mnist = flagged_mnist()
    train_idx, val_idx = torch.tensor([0, 1, 3, 4, 5]), torch.tensor([2])
    flags = FlaggedOnes.of(mnist, train_idx, val_idx)
    assert flags.variant.tolist() == [-1, 0, -1, 2, -1]  # per training-split position
    assert flags.val_source.tolist() == [2] and int(flags.val_images[0, 0, 0]) == 8

    batch_idx = torch.tensor([0, 1, 2, 3, 4, 5, 6])  # 5 and 6: extra data past the split
    batch = torch.zeros(7, 28, 28, dtype=torch.uint8)
    gen = torch.Generator().manual_seed(0)
    always = flags.swap_in(batch, batch_idx, 1.0, gen)
    assert [int(x[0, 0]) for x in always] == [0, 7, 0, 9, 0, 0, 0]
    assert not batch.any()  # the caller's batch is left as it was
    never = flags.swap_in(batch, batch_idx, 0.0, gen)
    assert not never.any()


def test_swaps_happen_at_the_configured_rate():
    mnist = flagged_mnist()
    flags = FlaggedOnes.of(mnist, torch.tensor([1]), torch.tensor([0]))
    batch = torch.zeros(4000, 28, 28, dtype=torch.uint8)
    swapped = flags.swap_in(batch, torch.zeros(4000, dtype=torch.long), 0.3, torch.Generator())
    rate = (swapped[:, 0, 0] > 0).float().mean().item()
    assert 0.27 < rate < 0.33


def test_no_flagged_ones_without_them_in_the_data():
    mnist = flagged_mnist()
    mnist.served_flagged = mnist.flagged_source = None
    assert FlaggedOnes.of(mnist, torch.tensor([0]), torch.tensor([1])) is None
