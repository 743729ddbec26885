"""tools.cli: a config dataclass becomes a command line, its comments the help."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tools.cli import config_parser, field_comments, parse_config


@dataclass
class Example:
    folder: Path = Path(".")  # what to read
    count: int = 3  # how many
    rate: float = 0.5  # how fast
    name: str = ""  # who
    fast: bool = False  # go fast
    careful: bool = True  # go carefully
    share: float = 0.5  # 50% of the time


def test_defaults():
    assert parse_config(Example, ["here"], positional=("folder",)) == Example(Path("here"))


def test_every_field_is_a_typed_flag():
    argv = ["x", "--count", "7", "--rate", "2", "--name", "n", "--fast", "--no-careful"]
    config = parse_config(Example, argv, positional=("folder",))
    assert config == Example(Path("x"), 7, 2.0, "n", True, False, 0.5)
    assert isinstance(config.folder, Path)


@pytest.mark.parametrize("value", ["False", "0", "no"])
def test_a_bool_flag_takes_no_value(value, capsys):
    """argparse's type=bool would read "False" as True; a bool flag refuses any value."""
    with pytest.raises(SystemExit):
        parse_config(Example, ["x", "--fast", value], positional=("folder",))
    assert "unrecognized arguments" in capsys.readouterr().err


def test_a_positional_field_is_required(capsys):
    with pytest.raises(SystemExit):
        parse_config(Example, [], positional=("folder",))
    assert "folder" in capsys.readouterr().err


def test_help_comes_from_the_field_comments():
    assert field_comments(Example)["careful"] == "go carefully"
    text = " ".join(config_parser(Example, "Example tool.").format_help().split())
    for part in ("Example tool.", "--count COUNT how many (default: 3)", "--fast, --no-fast"):
        assert part in text


def test_a_percent_sign_in_a_comment_prints_in_the_help(capsys):
    with pytest.raises(SystemExit) as stop:
        parse_config(Example, ["--help"], positional=("folder",))
    assert stop.value.code == 0
    assert "50% of the time" in capsys.readouterr().out
