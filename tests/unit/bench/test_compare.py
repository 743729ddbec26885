"""bench.compare without servers: bodies, the wrk runs of one measurement, interleaving and
dropping systems, medians and ratios, the table and the plot."""

from __future__ import annotations

import io
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image

from bench import compare, wrk
from bench.compare import (
    Body,
    CompareConfig,
    HttpSystem,
    Measurement,
    Row,
    measure,
    plot,
    small_upload,
    start_systems,
    summarise,
    table,
    write_bodies,
)
from bench.wrk import WrkError, WrkResult

CONFIG = CompareConfig(rounds=2, seconds=1, warmup=0, clients=16, threads=2)


def m(system: str, body: str, round_: int, p50: float, rps: float | None, errors: int = 0):
    return Measurement(system, body, round_, p50, p50 * 2, rps, errors)


# ---- bodies --------------------------------------------------------------------------------------


def test_the_small_upload_is_a_64_pixel_png_with_the_same_bytes_every_run() -> None:
    assert small_upload() == small_upload()
    with Image.open(io.BytesIO(small_upload())) as image:
        assert (image.format, image.size) == ("PNG", (64, 64))


def test_bodies_are_files_in_the_order_asked(tmp_path: Path) -> None:
    bodies = write_bodies(["small", "photo", "canvas"], tmp_path)
    assert [(b.name, b.content_type) for b in bodies] == [
        ("small", "image/png"),
        ("photo", "image/jpeg"),
        ("canvas", "image/png"),
    ]
    assert all(b.path.is_file() for b in bodies)
    assert bodies[0].path.read_bytes() == small_upload()


def test_an_unknown_body_is_refused_with_the_choices(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"unknown bodies \['drawing'\].*canvas"):
        write_bodies(["canvas", "drawing"], tmp_path)


# ---- one HTTP measurement ------------------------------------------------------------------------


def result(rps: float, p50: float, non_2xx: int = 0) -> WrkResult:
    return WrkResult(int(rps), rps, p50, p50 * 3, non_2xx, socket_errors=1)


def test_a_measurement_is_p50_p99_of_one_client_and_the_rate_of_many(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = []

    def fake_run(url: str, script: Path, **load: int) -> WrkResult:
        runs.append((url, script.read_text(), load))
        return result(50.0, 4.0) if load["connections"] == 1 else result(300.0, 40.0, non_2xx=2)

    monkeypatch.setattr(wrk, "run", fake_run)
    keys = iter(["key-1", "key-2"])  # the key rotates between two measurements
    system = HttpSystem("ts", "http://h/p", tmp_path, lambda: {"Authorization": next(keys)})
    body = Body("canvas", Path("/samples/seven.png"), "image/png")
    config = CompareConfig(seconds=5, warmup=2, clients=16, threads=2)

    first = system.measure(body, 1, config)
    assert [load for _, _, load in runs] == [
        {"connections": 16, "threads": 2, "seconds": 2},  # warm-up, discarded
        {"connections": 1, "threads": 1, "seconds": 5},
        {"connections": 16, "threads": 2, "seconds": 5},
    ]
    assert (first.p50_ms, first.p99_ms, first.requests_per_s) == (4.0, 12.0, 300.0)
    assert first.errors == 1 + 2 + 1  # socket errors of both runs, non-2xx of the second
    assert first.wrk["one_client"]["requests_per_s"] == 50.0
    assert first.wrk["many_clients"]["non_2xx"] == 2
    assert '"image/png"' in runs[0][1] and '"/samples/seven.png"' in runs[0][1]
    assert '"key-1"' in runs[0][1]

    system.measure(body, 2, CompareConfig(seconds=5, warmup=0))
    assert len(runs) == 5  # no warm-up when warmup is 0
    assert '"key-2"' in runs[-1][1]  # each measurement sends the key read just before it


# ---- starting and interleaving -------------------------------------------------------------------


@dataclass
class FakeSystem:
    name: str
    fail_in_round: int = 0  # stops answering in this round (0: never)
    calls: list = field(default_factory=list)

    def measure(self, body: Body, round_: int, config: CompareConfig) -> Measurement:
        self.calls.append((round_, body.name))
        if round_ == self.fail_in_round:
            raise WrkError("answered no request in 1 s")
        return m(self.name, body.name, round_, 1.0, 10.0)


def test_systems_are_interleaved_and_one_that_stops_answering_is_dropped() -> None:
    steady, flaky = FakeSystem("steady"), FakeSystem("flaky", fail_in_round=2)
    bodies = [Body("canvas", Path("a.png"), "image/png"), Body("photo", Path("b.jpg"), "")]
    failures: dict[str, str] = {}
    measured = measure([steady, flaky], bodies, CompareConfig(rounds=3), failures)
    order = [(x.round, x.body, x.system) for x in measured]
    assert order == [
        (1, "canvas", "steady"),
        (1, "canvas", "flaky"),
        (1, "photo", "steady"),
        (1, "photo", "flaky"),
        (2, "canvas", "steady"),
        (2, "photo", "steady"),
        (3, "canvas", "steady"),
        (3, "photo", "steady"),
    ]
    assert flaky.calls[-1] == (2, "canvas")  # never asked again
    assert failures == {"flaky": "stopped answering in round 2: answered no request in 1 s"}


def test_a_system_that_does_not_start_is_reported_and_the_others_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(exits: ExitStack, tmp: Path) -> FakeSystem:
        raise RuntimeError("Java is not installed")

    starters = {"a": lambda *_: FakeSystem("a"), "b": broken, "c": lambda *_: FakeSystem("c")}
    monkeypatch.setattr(compare, "STARTERS", starters)
    with ExitStack() as exits:
        systems, failures = start_systems(["a", "b", "c"], exits, tmp_path)
    assert [s.name for s in systems] == ["a", "c"]
    assert failures == {"b": "did not start: Java is not installed"}


def test_an_unknown_system_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with ExitStack() as exits, pytest.raises(SystemExit, match=r"unknown systems \['nginx'\]"):
        start_systems(["torchserve", "nginx"], exits, tmp_path)


# ---- medians, ratios, table, plot ----------------------------------------------------------------


MEASURED = [
    m("torchserve", "canvas", 1, 5.0, 300.0),
    m("reference", "canvas", 1, 2.0, 100.0),
    m("floor", "canvas", 1, 1.0, None),
    m("torchserve", "canvas", 2, 7.0, 320.0, errors=1),
    m("reference", "canvas", 2, 4.0, 160.0),
    m("floor", "canvas", 2, 3.0, None),
    m("torchserve", "photo", 1, 20.0, 90.0),
    m("torchserve", "photo", 2, 30.0, 110.0),
]


def test_rows_are_medians_over_rounds_with_the_ratio_to_the_reference() -> None:
    rows = summarise(MEASURED)
    assert rows == [
        Row("canvas", "torchserve", 6.0, 12.0, 310.0, 310.0 / 130.0, errors=1),
        Row("canvas", "reference", 3.0, 6.0, 130.0, 1.0, errors=0),
        Row("canvas", "floor", 2.0, 4.0, None, None, errors=0),
        # No reference figure for this body: no ratio rather than a wrong one.
        Row("photo", "torchserve", 25.0, 50.0, 100.0, None, errors=0),
    ]


def test_the_table_says_what_was_measured_and_lists_what_was_left_out() -> None:
    text = table(summarise(MEASURED), CONFIG, {"chain": "did not start: port busy"})
    lines = text.splitlines()
    assert lines[0].startswith("Medians over 2 rounds of 1 s runs")
    assert "wrk -t1 -c1" in lines[0] and "wrk -t2 -c16" in lines[0]
    assert lines[2] == (
        "| body | system | p50 ms, 1 client | p99 ms, 1 client | requests/s, 16 clients "
        "| × reference | errors |"
    )
    assert "| canvas | torchserve | 6.00 | 12.00 | 310 | 2.38× | 1 |" in lines
    assert "| canvas | floor | 2.00 | 4.00 | — | — | 0 |" in lines
    assert "| photo | torchserve | 25.00 | 50.00 | 100 | — | 0 |" in lines
    assert lines[-2:] == ["Left out:", "- chain: did not start: port busy"]


def test_the_plot_is_a_png(tmp_path: Path) -> None:
    path = tmp_path / "compare.png"
    plot(summarise(MEASURED), CONFIG, path)
    with Image.open(path) as image:
        assert image.format == "PNG"
