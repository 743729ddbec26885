"""tools.client: reading TorchServe's keys, and what a missing or broken key file says."""

from __future__ import annotations

import json

import pytest

from tools.client import ServiceUnavailable, read_key, read_keys


def test_reads_each_kind_of_key(tmp_path):
    key_file = tmp_path / "key_file.json"
    keys = {"inference": {"key": "i"}, "management": {"key": "m"}, "API": {"key": "a"}}
    key_file.write_text(json.dumps(keys))
    assert read_keys(key_file) == keys
    assert [read_key(key_file, kind) for kind in ("inference", "management", "API")] == list("ima")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "TorchServe is not running"),
        ("{half", "Cannot read"),
        ("[1, 2]", "is not TorchServe's key file"),
        ('{"management": {"key": "m"}}', "holds no inference key"),
    ],
    ids=["missing", "not-json", "not-an-object", "no-inference-key"],
)
def test_a_key_file_problem_is_one_clear_error(tmp_path, content, message):
    key_file = tmp_path / "key_file.json"
    if content is not None:
        key_file.write_text(content)
    with pytest.raises(ServiceUnavailable, match=message):
        read_key(key_file)
