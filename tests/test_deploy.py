"""The Grafana dashboard and the Prometheus alert rules in deploy/ only name metrics (and labels)
that ragline.metrics defines, cover what operators need, and pass `promtool check rules` (the
dashboard's queries too, loaded as recording rules)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ragline import metrics

DEPLOY = Path(__file__).parent.parent / "deploy"
DASHBOARD = DEPLOY / "grafana" / "ragline.json"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
# A metric name, then optionally its label matchers.
SELECTOR = re.compile(r"\b(ragline_[a-zA-Z0-9_]+)\s*(\{([^}]*)\})?")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)")


def _labels_by_sample() -> dict[str, set[str]]:
    """Every sample name ragline can export, with the labels it carries."""
    labels: dict[str, set[str]] = {}
    for metric in metrics.ALL_METRICS:
        names = set(metric._labelnames)
        for sample in metrics.metric_names():
            if sample == metric._name or sample.startswith(metric._name + "_"):
                labels[sample] = names | ({"le"} if sample.endswith("_bucket") else set())
    return labels


def _dashboard_exprs() -> list[tuple[str, str]]:
    board = json.loads(DASHBOARD.read_text())
    return [(panel["title"], target["expr"]) for panel in board["panels"] for target in panel.get("targets", [])]


def _alert_rules() -> list[dict]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def _check_expr(where: str, expr: str, known: dict[str, set[str]]) -> set[str]:
    used = set()
    for name, _, matchers in SELECTOR.findall(expr):
        assert name in known, f"{where}: {name} is not a metric ragline exports ({sorted(known)})"
        for label, _ in MATCHER.findall(matchers or ""):
            assert label in known[name], f"{where}: {name} has no label {label!r}"
        used.add(name)
    assert used, f"{where}: names no ragline metric: {expr}"
    return used


def test_label_table_is_right():
    known = _labels_by_sample()
    assert known["ragline_requests_total"] == {"route", "method", "status"}
    assert known["ragline_search_seconds_bucket"] == {"mode", "le"}
    assert known["ragline_search_seconds_count"] == {"mode"}
    assert known["ragline_in_flight"] == set()
    assert "ragline_requests" not in known  # a counter is only exported with its suffixes


def test_every_dashboard_query_names_existing_metrics_and_labels():
    known = _labels_by_sample()
    used: set[str] = set()
    exprs = _dashboard_exprs()
    assert len(exprs) >= 15
    for title, expr in exprs:
        used |= _check_expr(f"panel {title!r}", expr, known)
    # Every metric ragline exports is on the dashboard (each family through some sample).
    families = {m._name for m in metrics.ALL_METRICS}
    shown = {f for f in families if any(u == f or u.startswith(f + "_") for u in used)}
    assert shown == families, f"not on the dashboard: {sorted(families - shown)}"


def test_dashboard_is_importable_grafana_json():
    board = json.loads(DASHBOARD.read_text())
    assert board["uid"] and board["title"] and board["schemaVersion"] >= 30
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        position = panel["gridPos"]
        assert position["x"] + position["w"] <= 24
        for target in panel.get("targets", []):
            assert target["refId"] and target["datasource"]["uid"] == "${datasource}"
    titles = " ".join(panel["title"].lower() for panel in board["panels"])
    for needed in ("request rate", "latency", "in-flight", "shed", "cache hit", "batch", "documents/s",
                   "chunks/s", "stage busy", "queue depth", "queue lag", "dead letters"):
        assert needed in titles, needed


def test_alert_rules_have_the_required_fields_and_cover_the_risks():
    known = _labels_by_sample()
    rules = _alert_rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    for rule in rules:
        assert set(rule) >= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in ("page", "warn")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        assert re.fullmatch(r"\d+[smh]", rule["for"])
        _check_expr(f"alert {rule['alert']}", rule["expr"], known)
    exprs = " ".join(rule["expr"] for rule in rules)
    assert 'status=~"5.."' in exprs                                           # error rate
    assert "histogram_quantile(0.99" in exprs                                   # p99 latency
    for metric in ("ragline_shed_total", "ragline_queue_lag_seconds", "ragline_dead_letters_total"):
        assert metric in exprs


def test_the_check_catches_a_wrong_name():
    with pytest.raises(AssertionError, match="not a metric"):
        _check_expr("x", "rate(ragline_request_total[5m])", _labels_by_sample())
    with pytest.raises(AssertionError, match="no label"):
        _check_expr("x", 'ragline_queue_depth{stream="a"}', _labels_by_sample())


def test_promtool_accepts_the_alerts_and_the_dashboard_queries(tmp_path):
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: `make test` installs it (apt-get install prometheus)"
    checked = subprocess.run([promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # Grafana's $__rate_interval is not PromQL: a fixed window stands in for it.
    rules = [{"record": f"ragline:dashboard:{i}", "expr": expr.replace("$__rate_interval", "5m")}
             for i, (_, expr) in enumerate(_dashboard_exprs())]
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"{len(rules)} rules found" in checked.stdout
