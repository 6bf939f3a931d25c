"""prometheus.yml: the committed (compose) one, rendered ones, and a real Prometheus using it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry, Counter, start_http_server

from local_services.ports import free_port
from local_services.prometheus import PrometheusServer
from prometheus.render_config import (
    COMMITTED_CONFIG,
    main,
    render_compose_config,
    render_config,
    write_config,
)
from promql_checks.durations import parse_duration
from tests.support.mixin_render import short_interval_rule_files
from tests.support.promtool import promtool


def check_config(path: Path) -> subprocess.CompletedProcess:
    return promtool("check", "config", str(path))


def test_committed_config_is_the_rendered_compose_config():
    assert COMMITTED_CONFIG.read_text() == render_compose_config(), (
        "run `python -m prometheus.render_config --compose`"
    )


def test_promtool_accepts_the_committed_config_and_its_rule_files():
    done = check_config(COMMITTED_CONFIG)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 3 rule files found" in done.stdout


def test_promtool_accepts_a_config_rendered_for_other_ports(tmp_path):
    path = write_config(
        tmp_path / "nested" / "prometheus.yml",
        ["127.0.0.1:18001", "127.0.0.1:18002"],
        ["127.0.0.1:19811"],
        ["127.0.0.1:19093"],
        scrape_interval="5s",
    )
    done = check_config(path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_command_line_writes_a_config_and_refuses_one_without_targets(tmp_path, capsys):
    out = tmp_path / "p.yml"
    main(["--django", "127.0.0.1:8001", "--exporter", "127.0.0.1:9811", "--out", str(out)])
    assert "127.0.0.1:8001" in out.read_text()
    with pytest.raises(SystemExit):
        main(["--exporter", "127.0.0.1:9811"])
    assert "no django target" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no exporter target"):
        render_config(["127.0.0.1:8001"], [])


def test_a_real_prometheus_scrapes_both_jobs_and_evaluates_every_rule(tmp_path):
    """Prometheus started on the rendered config: both jobs up, every rule group healthy
    (the rules as committed, but for the once-a-minute group's interval: a short one, so the
    test need not wait up to a minute for its first evaluation)."""
    registry = CollectorRegistry()
    Counter("django_http_requests", "requests", ["status"], registry=registry).labels("200").inc()
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    target = f"127.0.0.1:{port}"
    rules = short_interval_rule_files(tmp_path / "rules")
    prometheus = PrometheusServer(
        tmp_path / "prometheus", django=[target], exporter=[target], rule_files=rules
    ).start()
    try:
        prometheus.wait_until(
            lambda: prometheus.value('count(up{job=~"django|painel-exporter"} == 1)') == 2,
            what="both scrape jobs up",
        )
        expected = {
            group["name"] for path in rules for group in yaml.safe_load(path.read_text())["groups"]
        }

        def evaluated_groups():
            groups = prometheus.rule_groups()
            healthy = {
                g["name"]
                for g in groups
                if not g["lastEvaluation"].startswith("0001")  # Go's zero time: never
                and all(r.get("health") == "ok" for r in g["rules"])
            }
            return healthy if healthy == expected else None

        prometheus.wait_until(evaluated_groups, what="every rule group evaluated without error")
        # The app's counter went through the recording rules: a rate for job django.
        rate = prometheus.wait_until(
            lambda: prometheus.query('job:django_http_requests:rate5m{job="django"}'),
            what="job:django_http_requests:rate5m recorded",
        )
        assert float(rate[0]["value"][1]) == 0.0
        # The demo stack starts its Prometheus the same way (see the test below).
        flags = httpx.get(f"{prometheus.url}/api/v1/status/flags", timeout=10).json()["data"]
        assert parse_duration(flags["storage.tsdb.retention.time"]) == 7 * 86400  # "1w"
    finally:
        prometheus.stop()
        server.shutdown()


def test_compose_runs_a_service_for_every_target_of_the_committed_config():
    compose_file = COMMITTED_CONFIG.parents[1] / "docker-compose.yml"
    if not compose_file.exists():
        pytest.skip("no docker-compose.yml")
    services = yaml.safe_load(compose_file.read_text())["services"]
    config = yaml.safe_load(COMMITTED_CONFIG.read_text())
    targets = [
        t for job in config["scrape_configs"] for s in job["static_configs"] for t in s["targets"]
    ]
    targets += config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    for target in targets:
        assert target.split(":")[0] in services, f"{target}: no such compose service"


def test_the_local_demo_stack_keeps_7_days(tmp_path):
    from demo.stack import Stack

    assert Stack(tmp_path).prometheus.retention == "7d"
