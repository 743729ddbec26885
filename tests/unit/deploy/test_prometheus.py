"""deploy/prometheus and deploy/grafana: the scrape config, the alert rules and their unit tests
pass promtool, and every query of the rules and the dashboard parses and names a metric that one
of the two components really exports.

promtool comes from Debian's `prometheus` package; `make setup-promtool` installs it, and `make
test` and `make test-fast` run that first, so a missing promtool fails here instead of skipping.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tools.paths import METRICS_PORT, REPO_ROOT, SERVE_CONFIG_DIR, UI_PORT
from webui import create_app
from webui.config import WebUIConfig

PROMETHEUS_DIR = REPO_ROOT / "deploy" / "prometheus"
DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "digit-reader.json"
SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\{")  # every selector names its job


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is missing: `make setup-promtool` installs it (Debian: prometheus)")
    return found


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_the_scrape_config_and_its_rules_pass_promtool(promtool):
    result = run(promtool, "check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout + result.stderr


def test_the_alert_rules_pass_promtool(promtool):
    result = run(promtool, "check", "rules", str(PROMETHEUS_DIR / "alerts.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alerts_unit_tests_pass(promtool):
    result = run(promtool, "test", "rules", str(PROMETHEUS_DIR / "alerts.test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def alerts() -> list[dict]:
    groups = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_every_alert_is_tested_and_the_issues_alerts_exist():
    names = {rule["alert"] for rule in alerts()}
    tests = yaml.safe_load((PROMETHEUS_DIR / "alerts.test.yml").read_text())["tests"]
    tested = {case["alertname"] for test in tests for case in test["alert_rule_test"]}
    assert names == tested
    assert {"WebUIErrorRatioHigh", "TorchServeDown", "WebUILatencyHigh", "WebUIShedding"} <= names


def test_the_scrape_targets_are_where_make_run_serves():
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert [t for c in jobs["webui"]["static_configs"] for t in c["targets"]] == [
        f"127.0.0.1:{UI_PORT}"
    ]
    assert [t for c in jobs["torchserve"]["static_configs"] for t in c["targets"]] == [
        f"127.0.0.1:{METRICS_PORT}"
    ]


def dashboard_queries() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


def test_every_dashboard_query_parses(promtool, tmp_path: Path):
    # promtool parses PromQL in rule files: each query becomes a recording rule.
    rules = [
        {"record": f"dashboard:query_{i}", "expr": expr.replace("$__rate_interval", "5m")}
        for i, expr in enumerate(dashboard_queries())
    ]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run(promtool, "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_panel_has_a_query_and_both_components_are_on_the_dashboard():
    panels = json.loads(DASHBOARD.read_text())["panels"]
    graphs = [panel for panel in panels if panel["type"] != "row"]
    assert all(panel["targets"] for panel in graphs)
    assert len({panel["id"] for panel in panels}) == len(panels)
    queries = " ".join(dashboard_queries())
    assert 'job="webui"' in queries and 'job="torchserve"' in queries


def exported_names(tmp_path: Path) -> set[str]:
    """Sample names the UI exports, after a page view and a failed prediction (no key file, so
    nothing is sent anywhere)."""
    config = WebUIConfig(key_file=tmp_path / "absent.json", model_report=tmp_path / "r.json")
    client = create_app(config).test_client()
    client.get("/")
    client.post("/api/predict", data=b"\x89PNG\r\n\x1a\n", content_type="image/png")
    text = client.get("/metrics").get_data(as_text=True)
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


def torchserve_names() -> set[str]:
    """The metrics serve_config/metrics.yaml lets TorchServe publish."""
    config = yaml.safe_load((SERVE_CONFIG_DIR / "metrics.yaml").read_text())
    return {
        metric["name"]
        for section in ("ts_metrics", "model_metrics")
        for kind in config[section].values()
        for metric in kind
    }


def test_every_queried_metric_is_exported(tmp_path):
    known = exported_names(tmp_path) | torchserve_names() | {"up"}
    queries = dashboard_queries() + [rule["expr"] for rule in alerts()]
    named = {name for query in queries for name in SELECTOR.findall(query)}
    assert named, "no metric found in the queries"
    assert named <= known, named - known
