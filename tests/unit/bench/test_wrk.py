"""bench.wrk: wrk 4.1's --latency output parsed (captured runs in wrk_outputs/), the Lua scripts it
runs, and the runs it refuses to report."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bench import wrk
from bench.wrk import WrkError, WrkResult, lua_string, parse, post_script

OUTPUTS = Path(__file__).parent / "wrk_outputs"


def sample(name: str) -> str:
    return (OUTPUTS / f"{name}.txt").read_text()


def test_a_clean_run_gives_rate_and_percentiles_in_ms() -> None:
    # One client: "50%  334.00us" and "99%    3.50ms" side by side.
    assert parse(sample("one_client")) == WrkResult(
        requests=2265, requests_per_s=2258.64, p50_ms=0.334, p99_ms=3.5, non_2xx=0, socket_errors=0
    )


def test_non_2xx_answers_are_errors() -> None:
    result = parse(sample("non_2xx"))
    assert (result.requests, result.non_2xx, result.errors) == (2068, 2068, 2068)
    assert (result.requests_per_s, result.p50_ms, result.p99_ms) == (1880.03, 1.85, 12.72)


def test_socket_errors_of_every_kind_are_summed() -> None:
    # "Socket errors: connect 0, read 32, write 0, timeout 0"
    result = parse(sample("socket_errors"))
    assert (result.socket_errors, result.non_2xx, result.errors) == (32, 0, 32)
    assert (result.requests, result.requests_per_s) == (16, 7.97)


def test_seconds_are_converted_too() -> None:
    text = sample("one_client").replace("99%    3.50ms", "99%    1.25s")
    assert parse(text).p99_ms == 1250.0


def test_output_that_is_not_wrk_s_is_refused_with_the_text() -> None:
    with pytest.raises(WrkError, match=r"(?s)unexpected wrk output.*hello"):
        parse("hello")


def test_the_script_posts_the_file_with_every_header() -> None:
    script = post_script(
        Path("/tmp/run/seven.png"), {"Content-Type": "image/png", "Authorization": "Bearer k1"}
    )
    assert script == (
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "image/png"\n'
        'wrk.headers["Authorization"] = "Bearer k1"\n'
        'local f = assert(io.open("/tmp/run/seven.png", "rb"))\n'
        'wrk.body = f:read("*all")\n'
        "f:close()\n"
    )


def test_lua_strings_escape_quotes_backslashes_and_non_ascii_as_bytes() -> None:
    assert lua_string('a"b\\c') == '"a\\034b\\092c"'
    assert lua_string("é\n") == '"\\195\\169\\010"'  # UTF-8 bytes, three digits each
    # Always three digits: a digit after an escape can never extend it.
    assert lua_string('"1') == '"\\0341"'


def fake_wrk(monkeypatch: pytest.MonkeyPatch, stdout: str, returncode: int = 0) -> list[list]:
    """subprocess.run in bench.wrk answers like wrk would; returns the commands it was given."""
    commands: list[list] = []

    def run(command: list, **kwargs: object) -> subprocess.CompletedProcess:
        commands.append(command)
        stderr = "unable to connect to 127.0.0.1:9 Connection refused" if returncode else ""
        return subprocess.CompletedProcess(command, returncode, stdout, stderr)

    monkeypatch.setattr(wrk.subprocess, "run", run)
    return commands


def test_run_asks_for_latency_percentiles(monkeypatch: pytest.MonkeyPatch) -> None:
    commands = fake_wrk(monkeypatch, sample("non_2xx"))
    result = wrk.run("http://h/p", Path("s.lua"), connections=16, threads=2, seconds=3)
    assert commands == [["wrk", "-t2", "-c16", "-d3s", "--latency", "-s", "s.lua", "http://h/p"]]
    assert result.requests == 2068


def test_run_refuses_a_run_where_nothing_was_answered(monkeypatch: pytest.MonkeyPatch) -> None:
    # wrk prints "0.00us" percentiles then: they must not pass for a fast server.
    fake_wrk(monkeypatch, sample("nothing_answered"))
    with pytest.raises(WrkError, match="answered no request"):
        wrk.run("http://h/p", Path("s.lua"), connections=1, threads=1, seconds=3)


def test_run_reports_why_wrk_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_wrk(monkeypatch, "", returncode=1)
    with pytest.raises(WrkError, match="Connection refused"):
        wrk.run("http://h/p", Path("s.lua"), connections=1, threads=1, seconds=1)
