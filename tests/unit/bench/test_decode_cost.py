"""bench.decode_cost: the files are what their names say, at the size asked for, and measured."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bench.decode_cost import Config, files, main

SMALL = Config(width=96, height=40, jpeg_width=128, jpeg_height=96, scans=20)


@pytest.mark.parametrize("name", list(files(SMALL)))
def test_each_file_is_the_format_and_size_it_says(name: str) -> None:
    data = files(SMALL)[name]()
    image = Image.open(io.BytesIO(data))
    assert image.format == name.split()[0].strip(",").upper()
    expected = (128, 96) if "photo" in name else (96, 40)
    assert sorted(image.size) == sorted(expected)  # orientation may turn a TIFF's header
    image.load()  # decodes: a broken file would measure nothing
    if "progressive" in name:
        assert image.info["progressive"] and data.count(b"\xff\xda") == 20  # start-of-scan


def test_main_measures_and_reports_the_verdict_of_the_shipped_limits(capsys) -> None:
    main(["--width", "64", "--height", "64", "--runs", "1", "--only", "BMP 1-bit"])
    header, line = capsys.readouterr().out.splitlines()
    assert header.startswith("file") and line.startswith("BMP 1-bit")
    assert line.endswith("no_digit, decoded")
