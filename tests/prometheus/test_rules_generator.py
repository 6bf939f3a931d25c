"""prometheus/rules_generator: the committed rules are its output, and other settings render."""

from __future__ import annotations

import re

import pytest
import yaml

from mixin.config import MixinConfig
from prometheus.rules_generator import RULES_DIR, render_rule_files
from prometheus.rules_generator.__main__ import main
from tests.support.promtool import promtool


def test_committed_rule_files_are_the_generators_output_with_the_defaults():
    rendered = render_rule_files()
    committed = {path.name: path.read_text() for path in RULES_DIR.glob("*.yml")}
    assert committed == rendered, "run `python -m prometheus.rules_generator`"


def test_other_jobs_objectives_and_runbook_base_render_rules_promtool_accepts(tmp_path):
    config_file = tmp_path / "mixin.yml"
    config_file.write_text(
        yaml.safe_dump(
            {
                "app_job_selector": 'job=~"shop-web|shop-api"',
                "exporter_job_selector": 'job="shop-exporter", env="prod"',
                "slow_request_threshold": 1.0,
                "availability_objective": 0.995,
                "latency_objective": 0.95,
                "slo_window": "28d",
                "runbook_base_url": "https://wiki.example.com/ops/painel-runbook",
                "extra_labels": {"team": "shop"},
            }
        )
    )
    out = tmp_path / "rules"
    main(["--config", str(config_file), "--out", str(out)])
    paths = sorted(out.glob("*.yml"))
    assert [p.name for p in paths] == ["alerts.yml", "recording.yml", "slo.yml"]
    done = promtool("check", "rules", *map(str, paths))
    assert done.returncode == 0, done.stdout + done.stderr

    rules = [r for p in paths for g in yaml.safe_load(p.read_text())["groups"] for r in g["rules"]]
    exprs = "\n".join(rule["expr"] for rule in rules)
    assert 'django_http_requests_total{job=~"shop-web|shop-api"}' in exprs
    assert 'redis_up{job="shop-exporter", env="prod"}' in exprs
    assert 'job="django"' not in exprs and 'job="painel-exporter"' not in exprs
    # the latency SLI reads the bucket of the threshold as prometheus_client names it
    assert 'le="1.0"' in exprs and "/ 0.05" in exprs and "/ 0.005" in exprs
    assert "job:django_http_availability:budget_remaining28d" in {r.get("record") for r in rules}
    # a 28-day window burns 2% of its budget in an hour at 13.44 times the sustainable rate
    (page,) = [
        r
        for r in rules
        if r.get("alert") == "DjangoErrorBudgetBurn" and r["labels"]["severity"] == "critical"
    ]
    assert "burn_rate1h > 13.44" in page["expr"]
    assert "(99.5% of responses not 5xx over 28d)" in page["annotations"]["description"]
    for rule in rules:
        if "alert" in rule:
            assert rule["labels"]["team"] == "shop"
            assert rule["annotations"]["runbook_url"] == (
                f"https://wiki.example.com/ops/painel-runbook#{rule['alert'].lower()}"
            )


def test_a_cluster_label_is_kept_by_every_aggregation_and_match_of_the_rules(tmp_path):
    """Evaluated on several Prometheus servers' series (a central ruler), `sum by (job)`
    would add clusters together and `on (job)` match one cluster's series with another's."""
    rendered = render_rule_files(MixinConfig(cluster_label="k8s_cluster"))
    clauses = re.findall(r"\b(?:by|on) \([^)]*\)", "".join(rendered.values()))
    assert len(clauses) > 40
    assert [c for c in clauses if not re.search(r"\(k8s_cluster, job\b", c)] == []
    # without a cluster label: the committed rules, no cluster anywhere
    assert "cluster" not in "".join(render_rule_files().values())
    paths = []
    for name, text in rendered.items():
        paths.append(tmp_path / name)
        paths[-1].write_text(text)
    done = promtool("check", "rules", *map(str, paths))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_command_line_refuses_a_bad_config_with_its_message(tmp_path, capsys):
    config_file = tmp_path / "mixin.yml"
    config_file.write_text("latency_objectiv: 0.9\n")
    with pytest.raises(SystemExit):
        main(["--config", str(config_file), "--out", str(tmp_path / "rules")])
    assert "unknown key 'latency_objectiv'" in capsys.readouterr().err
    assert not (tmp_path / "rules").exists()


def test_node_rules_have_names_of_their_own_beside_node_mixin():
    records = {r["record"] for g in _groups("recording.yml") for r in g["rules"]}
    # node-mixin's own names: two rules writing one series when both are loaded
    assert not records & {
        "instance:node_cpu_utilisation:rate5m",
        "instance:node_memory_utilisation:ratio",
    }
    assert "instance:painel_node_cpu_utilisation:rate5m" in records


def test_the_range_tables_group_runs_and_looks_back_at_the_configured_interval():
    (group,) = [
        g
        for g in _groups(
            "recording.yml", MixinConfig(range_rules_interval="30s", range_rules_delay=None)
        )
        if g["name"] == "painel.django.increase.rules"
    ]
    assert group["interval"] == "30s"
    for rule in group["rules"]:
        assert rule["record"].endswith(":increase1m")  # the name the dashboards read
        assert "offset 30s" in rule["expr"] and "[30s]" in rule["expr"]
        assert "1m" not in rule["expr"]


def test_by_default_each_evaluation_reads_the_interval_that_ended_an_interval_ago():
    (group,) = [g for g in _groups("recording.yml") if g["name"] == "painel.django.increase.rules"]
    for rule in group["rules"]:
        expr = rule["expr"]
        assert "offset 1m -" in expr and "offset 120s" in expr and "[1m] offset 1m" in expr


def test_a_delay_reads_both_ends_of_each_interval_that_far_behind():
    config = MixinConfig(range_rules_interval="1m", range_rules_delay="30s")
    (group,) = [
        g for g in _groups("recording.yml", config) if g["name"] == "painel.django.increase.rules"
    ]
    assert group["interval"] == "1m"
    for rule in group["rules"]:
        expr = rule["expr"]
        assert "offset 30s -" in expr and "offset 90s" in expr
        assert "[1m] offset 30s" in expr
        # every raw selector of the expression is read behind now
        selectors = expr.count('{job="django"}')
        assert len(re.findall(r'\{job="django"\}(?:\[1m\])? offset', expr)) == selectors == 6


def _groups(name: str, config: MixinConfig | None = None) -> list[dict]:
    return yaml.safe_load(render_rule_files(config or MixinConfig())[name])["groups"]
