"""Prometheus rules: promtool's checks and unit tests, and the mixin conventions."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from django_middleware.conf import DEFAULT_BUCKETS, DEFAULTS
from local_services.paths import REPO_ROOT
from mixin.config import MixinConfig
from promql_checks.catalog import (
    iter_rules,
    published_labels,
    published_metrics,
    readme_table,
    recording_rules,
    rule_files,
)
from promql_checks.expressions import metric_names, unknown_labels
from tests.support.markdown import github_anchor
from tests.support.promtool import promtool

PROMETHEUS_DIR = REPO_ROOT / "prometheus"
RUNBOOK = REPO_ROOT / "docs" / "runbook.md"
# The dead man's switch always fires: no severity to route on, never silent, no value.
WATCHDOG = "Watchdog"


def alerts() -> list[dict]:
    return [rule for rule in iter_rules() if "alert" in rule]


def test_promtool_check_rules_accepts_every_rule_file():
    done = promtool("check", "rules", *map(str, rule_files()))
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_unit_tests_pass():
    tests = sorted(str(p) for p in (PROMETHEUS_DIR / "tests").glob("*.yml"))
    done = promtool("test", "rules", *tests)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_has_a_unit_test_where_it_fires_and_one_where_it_stays_silent():
    """Firing at each of its severities (the warning and the critical twin), and silent."""
    firing, silent = set(), set()
    for path in (PROMETHEUS_DIR / "tests").glob("*.yml"):
        for group in yaml.safe_load(path.read_text()).get("tests", []):
            for case in group.get("alert_rule_test", []):
                name, expected = case["alertname"], case.get("exp_alerts")
                firing |= {(name, a["exp_labels"]["severity"]) for a in expected or []}
                if not expected:
                    silent.add(name)
    rules = {(rule["alert"], rule["labels"]["severity"]) for rule in alerts()}
    assert rules - firing == set(), "alerts never tested firing"
    assert {name for name, _ in rules} - silent == {WATCHDOG}, "alerts never tested silent"


def test_every_recording_rule_has_a_unit_test_of_its_values():
    tested: set[str] = set()
    for path in (PROMETHEUS_DIR / "tests").glob("*.yml"):
        for group in yaml.safe_load(path.read_text()).get("tests", []):
            for case in group.get("promql_expr_test", []):
                tested |= metric_names(case["expr"])
    assert set(recording_rules()) - tested == set()


def test_alerts_follow_the_monitoring_mixin_conventions():
    base = MixinConfig().runbook_base_url
    for rule in alerts():
        name, labels, notes = rule["alert"], rule.get("labels", {}), rule.get("annotations", {})
        assert re.fullmatch(r"(?:[A-Z][a-z0-9]*|CPU)+", name), f"{name}: not CamelCase"
        severities = ("none",) if name == WATCHDOG else ("warning", "critical")
        assert labels.get("severity") in severities, name
        assert notes.get("summary") and "\n" not in notes["summary"].strip(), name
        if name not in (WATCHDOG, "TargetMissing"):  # nothing measured: absent() and vector(1)
            assert "$value" in notes.get("description", ""), f"{name}: description without value"
        # absolute, so that it opens from Alertmanager, Grafana or a pager
        assert notes.get("runbook_url", "").startswith(f"{base}#"), name


def test_issue_thresholds_warning_at_80_and_critical_at_90_percent_for_10_minutes():
    by_name: dict[str, dict[str, dict]] = {}
    for rule in alerts():
        by_name.setdefault(rule["alert"], {})[rule["labels"]["severity"]] = rule
    for name in ("NodeCPUHighUsage", "NodeMemoryHighUtilization", "NodeFilesystemAlmostFull"):
        warning, critical = by_name[name]["warning"], by_name[name]["critical"]
        assert warning["expr"].rstrip().endswith(">= 0.8") and warning["for"] == "10m"
        assert critical["expr"].rstrip().endswith(">= 0.9")


def test_every_runbook_url_points_at_a_heading_of_the_runbook():
    headings = {
        github_anchor(line.lstrip("#"))
        for line in RUNBOOK.read_text().splitlines()
        if line.startswith("## ")
    }
    for rule in alerts():
        anchor = rule["annotations"]["runbook_url"].split("#", 1)[1]
        assert anchor in headings, f"{rule['alert']}: no heading for #{anchor} in docs/runbook.md"


def test_recording_rules_are_named_level_metric_operation():
    for name in recording_rules():
        level, metric, operation = name.split(":")
        assert re.fullmatch(r"[a-z_]+", level), name
        assert re.fullmatch(r"[a-z][a-z0-9_]*", metric), name
        assert not metric.endswith("_total"), f"{name}: drop _total after rate()"
        assert re.fullmatch(r"[a-z0-9_]+", operation), name


def test_rules_select_only_published_metrics():
    known = published_metrics()
    for rule in iter_rules():
        unknown = metric_names(rule["expr"]) - set(known)
        assert not unknown, f"{rule.get('alert') or rule.get('record')}: {unknown}"


def test_rules_read_only_labels_their_metrics_have():
    labels_of = published_labels()
    for rule in iter_rules():
        unknown = unknown_labels(rule["expr"], labels_of)
        assert not unknown, f"{rule.get('alert') or rule.get('record')}: {unknown}"


def test_amtool_accepts_the_alertmanager_config():
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.fail("amtool is not installed: run `bash scripts/bootstrap.sh`")
    done = subprocess.run(
        [amtool, "check-config", str(PROMETHEUS_DIR / "alertmanager.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_readme_documents_every_recording_rule_and_no_other():
    documented = readme_table((REPO_ROOT / "README.md").read_text(), "Recording rules")
    assert set(documented) == set(recording_rules())
    assert set(documented.values()) == {"gauge"}


def test_latency_alert_uses_the_middlewares_default_slow_threshold():
    (latency,) = [rule for rule in alerts() if rule["alert"] == "DjangoHighLatency"]
    bound = float(latency["expr"].splitlines()[0].rsplit(">", 1)[1])
    assert bound == DEFAULTS["SLOW_REQUEST_THRESHOLD"]
    # A bucket bound, so that p95 > threshold means "more than 5% were slow".
    assert bound in DEFAULT_BUCKETS
