"""bench.realistic_eval through a real TorchServe: the full chain answers as in-process scoring."""

from __future__ import annotations

from pathlib import Path

from bench.realistic_eval import load_labels, load_model, score_in_process, score_over_http
from handler.preprocess import preprocess
from tools.client import InferenceClient
from tools.paths import SHIPPED_MODEL


def test_full_chain_answers_as_in_process(torchserve, realistic_set: Path) -> None:
    """TorchServe runs the same preprocessing and model, so it must give the same answers."""
    samples = load_labels(realistic_set)
    with InferenceClient(torchserve.inference_url, key_file=torchserve.key_file) as client:
        over_http, _ = score_over_http(samples, realistic_set, client)
    model = load_model(SHIPPED_MODEL)
    in_process, _ = score_in_process(samples, realistic_set, model, preprocess)
    assert over_http == in_process
    assert over_http[-1] == "no_digit"
