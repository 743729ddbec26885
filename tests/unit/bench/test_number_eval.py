"""bench.number_eval: how digits inside a number are counted right."""

from __future__ import annotations

import pytest

from bench.number_eval import common_length


@pytest.mark.parametrize(
    ("truth", "read", "right"),
    [
        ("2026", "2026", 4),
        ("2026", "226", 3),  # a digit missed: the others still count
        ("2026", "20026", 4),  # a digit split in two: one extra, none lost
        ("2026", "2926", 3),
        ("2026", "", 0),
        ("12", "21", 1),  # order matters
    ],
)
def test_digits_right_follow_the_longest_common_subsequence(truth, read, right):
    assert common_length(truth, read) == right
