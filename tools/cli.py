"""Command lines from config dataclasses: every field becomes a flag, its comment the help.

    @dataclass
    class ScoreConfig:
        folder: Path = Path(".")  # images to score
        concurrency: int = 4  # requests in flight

    config = parse_config(ScoreConfig, argv, positional=("folder",))

A bool field becomes `--name / --no-name` (argparse reads any given value of `type=bool`,
even "False", as True, so bools never take a value). A Path field is parsed as a Path.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
from collections.abc import Sequence
from typing import Any, TypeVar

Config = TypeVar("Config")

_FIELD_COMMENT = re.compile(r"^\s*(\w+)\s*:[^#]*#\s*(.+?)\s*$")


def field_comments(cls: type) -> dict[str, str]:
    """`{field: its trailing comment}` from the class source, so help text never drifts."""
    comments = {}
    for line in inspect.getsource(cls).splitlines():
        match = _FIELD_COMMENT.match(line)
        if match:
            comments[match[1]] = match[2]
    return comments


def config_parser(
    cls: type,
    description: str | None = None,
    positional: Sequence[str] = (),
    prog: str | None = None,
) -> argparse.ArgumentParser:
    """An ArgumentParser with one argument per field of the dataclass `cls`."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description or (inspect.getdoc(inspect.getmodule(cls)) or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    comments = field_comments(cls)
    for field in dataclasses.fields(cls):
        default = field.default
        if default is dataclasses.MISSING:
            raise TypeError(f"{cls.__name__}.{field.name} needs a default to become a flag")
        # argparse formats help with %: a comment's "50%" must not break --help.
        options: dict[str, Any] = {"help": comments.get(field.name, "").replace("%", "%%")}
        if field.name in positional:
            names = [field.name]
            options["type"] = type(default)  # required: its default only documents the type
        elif isinstance(default, bool):
            names = ["--" + field.name.replace("_", "-")]
            options |= {"action": argparse.BooleanOptionalAction, "default": default}
        else:
            names = ["--" + field.name.replace("_", "-")]
            options |= {"type": type(default), "default": default}
        if isinstance(default, str) and not default:
            options["help"] += " (empty: none)"
        parser.add_argument(*names, **options)
    return parser


def parse_config(
    cls: type[Config],
    argv: Sequence[str] | None = None,
    description: str | None = None,
    positional: Sequence[str] = (),
) -> Config:
    """Parse `argv` (default: sys.argv) into an instance of the dataclass `cls`."""
    args = config_parser(cls, description, positional).parse_args(argv)
    return cls(**vars(args))
