"""deploy/victoriametrics/: each file is what the tools accept and what docs/scaling.md says.

The pipeline itself (agents, store, vmalert, every panel) runs in
tests/e2e/test_victoriametrics.py, with these files' flags.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from urllib.parse import urlsplit

import pytest
import yaml

from local_services.paths import REPO_ROOT
from local_services.prometheus import PrometheusServer, repository_rule_files
from local_services.victoria_metrics import DEPLOY_DIR, default_args, with_flags
from prometheus.render_config import AGENT_CONFIG, main, render_agent_config, render_config
from tests.support.promtool import promtool

SCALING = (REPO_ROOT / "docs" / "scaling.md").read_text()
SECTION = SCALING.split("### VictoriaMetrics", 1)[1].split("\n## ", 1)[0]


def flags(args: list[str]) -> dict[str, str]:
    """-name=value (or a bare -name, a boolean) as {name: value}."""
    return {name: value for name, _, value in (arg.lstrip("-").partition("=") for arg in args)}


def binary(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not installed: run scripts/bootstrap.sh"
    return path


def test_the_committed_agent_config_is_the_rendered_one_and_promtool_accepts_it():
    assert AGENT_CONFIG.read_text() == render_agent_config(), (
        "run `python -m prometheus.render_config --victoriametrics`"
    )
    done = promtool("check", "config", "--agent", str(AGENT_CONFIG))
    assert done.returncode == 0, done.stdout + done.stderr
    config = yaml.safe_load(AGENT_CONFIG.read_text())
    assert "rule_files" not in config and "alerting" not in config
    assert config["global"]["external_labels"] == {"host": "web-1"}
    assert urlsplit(config["remote_write"][0]["url"]).path == "/api/v1/write"


def test_the_scaling_page_shows_the_committed_agent_config():
    [block] = re.findall(r"```yaml\n(.*?)```", SECTION, re.S)
    assert yaml.safe_load(block) == yaml.safe_load(AGENT_CONFIG.read_text())


def test_the_command_line_renders_a_hosts_agent_config(tmp_path, capsys):
    out = tmp_path / "prometheus.yml"
    main(
        ["--agent", "--django", "10.0.1.12:8000", "--exporter", "10.0.1.12:9811"]
        + ["--external-label", "host=web-2", "--remote-write", "http://vm:8428/api/v1/write"]
        + ["--out", str(out)]
    )
    config = yaml.safe_load(out.read_text())
    assert config["global"]["external_labels"] == {"host": "web-2"}
    assert config["remote_write"] == [{"url": "http://vm:8428/api/v1/write"}]
    done = promtool("check", "config", "--agent", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    with pytest.raises(SystemExit):
        main(["--agent", "--django", "a:1", "--exporter", "a:2", "--external-label", "host"])
    assert "NAME=VALUE" in capsys.readouterr().err


def test_agent_mode_refuses_rules_alertmanagers_and_no_remote_write():
    with pytest.raises(ValueError, match="remote_write"):
        render_config(["a:1"], ["a:2"], agent=True, rule_files=[])
    with pytest.raises(ValueError, match="no rules"):
        render_config(["a:1"], ["a:2"], ["am:9093"], agent=True, remote_write=["http://vm"])
    with pytest.raises(ValueError, match="no rules"):
        render_config(["a:1"], ["a:2"], agent=True, rule_files=["r.yml"], remote_write=["x"])


def test_the_hosts_prometheus_flags_are_the_ones_the_test_agents_run_with(tmp_path):
    documented = flags(default_args("prometheus-agent"))
    server = PrometheusServer(tmp_path, ["a:1"], ["a:2"], agent=True, remote_write=["http://x"])
    running = flags(server.argv()[1:])
    assert documented["enable-feature"] == running["enable-feature"] == "agent"
    assert set(documented) == set(running) & set(documented)
    assert not {"storage.tsdb.path", "storage.tsdb.retention.time"} & set(running)


def test_vmalert_accepts_its_flags_and_painels_rules(tmp_path):
    """vmalert -dryRun: every flag of vmalert.default known, every rule parsed by MetricsQL."""
    args = default_args("vmalert")
    rule_glob = flags(args)["rule"]
    # The unit's glob takes every rule file painel generates, under their own names.
    assert rule_glob.endswith("/*.yml")
    assert all(path.suffix == ".yml" for path in repository_rule_files())
    local = with_flags(args, {"rule": [str(path) for path in repository_rule_files()]})
    done = subprocess.run(
        [binary("vmalert"), *local, "-dryRun"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_vmalert_and_the_data_source_point_at_the_store_s_port():
    store_port = urlsplit("http://" + flags(default_args("victoria-metrics"))["httpListenAddr"])
    vmalert = flags(default_args("vmalert"))
    for flag in ("datasource.url", "remoteWrite.url", "remoteRead.url"):
        assert urlsplit(vmalert[flag]).port == store_port.port, flag
    provisioning = yaml.safe_load((DEPLOY_DIR / "grafana-datasource.yml").read_text())
    [source] = provisioning["datasources"]
    assert source["type"] == "prometheus"  # VictoriaMetrics answers the Prometheus API
    assert urlsplit(source["url"]).port == store_port.port
    agent = yaml.safe_load(AGENT_CONFIG.read_text())
    assert source["jsonData"]["timeInterval"] == agent["global"]["scrape_interval"]
    assert urlsplit(agent["remote_write"][0]["url"]).port == store_port.port


def test_the_victoria_metrics_flags_are_ones_it_knows():
    known = subprocess.run(
        [binary("victoria-metrics"), "-help"], capture_output=True, text=True, timeout=60
    )
    listed = set(re.findall(r"^\s+-([\w.]+)", known.stdout + known.stderr, re.M))
    assert set(flags(default_args("victoria-metrics"))) <= listed


def test_the_vmalert_unit_runs_the_binary_with_the_flags_file():
    unit = (DEPLOY_DIR / "vmalert.service").read_text()
    assert "EnvironmentFile=/etc/default/vmalert" in unit
    assert "ExecStart=/usr/bin/vmalert $ARGS" in unit


def test_every_file_the_scaling_page_installs_exists():
    installed = re.findall(r"deploy/victoriametrics/([\w.-]+)", SECTION)
    assert installed
    for name in installed:
        assert (DEPLOY_DIR / name).is_file(), name
    assert {p.name for p in DEPLOY_DIR.iterdir()} <= set(installed), "a file the page omits"
