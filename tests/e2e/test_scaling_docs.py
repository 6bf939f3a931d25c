"""docs/scaling.md: every Prometheus configuration it shows is one promtool accepts."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from local_services.paths import REPO_ROOT

BLOCKS = re.findall(r"```yaml\n(.*?)```", (REPO_ROOT / "docs" / "scaling.md").read_text(), re.S)
# Debian builds Prometheus without Kubernetes discovery ("field kubernetes_sd_configs not found").
NO_KUBERNETES_SD = "kubernetes_sd_configs not found"


def promtool_check_config(path: Path) -> subprocess.CompletedProcess:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is not installed: run scripts/bootstrap.sh"
    return subprocess.run(
        [promtool, "check", "config", str(path)], capture_output=True, text=True, timeout=60
    )


def without_kubernetes_sd(config: dict) -> dict:
    """Each job's Kubernetes discovery replaced by a static target."""
    for job in config.get("scrape_configs", []):
        if job.pop("kubernetes_sd_configs", None) is not None:
            job["static_configs"] = [{"targets": ["pod.example:8000"]}]
    return config


def is_target_list(block: str) -> bool:
    return isinstance(yaml.safe_load(block), list)


def test_the_page_shows_configurations():
    kinds = [next(iter(yaml.safe_load(b))) if not is_target_list(b) else "targets" for b in BLOCKS]
    assert {"scrape_configs", "global", "targets"} <= set(kinds), kinds


@pytest.mark.parametrize("block", [b for b in BLOCKS if not is_target_list(b)])
def test_each_prometheus_yml_example_is_valid(block, tmp_path):
    config = tmp_path / "prometheus.yml"
    config.write_text(block)
    done = promtool_check_config(config)
    if done.returncode != 0 and NO_KUBERNETES_SD in done.stdout + done.stderr:
        # The rest of each job (relabelling regexes, actions, labels) is still checked.
        config.write_text(yaml.safe_dump(without_kubernetes_sd(yaml.safe_load(block))))
        done = promtool_check_config(config)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("block", [b for b in BLOCKS if is_target_list(b)])
def test_each_file_sd_example_is_a_valid_targets_file(block, tmp_path):
    """promtool checks the files a file_sd glob matches: point one at the example."""
    (tmp_path / "django-web.yml").write_text(block)
    config = tmp_path / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "scrape_configs": [
                    {
                        "job_name": "django",
                        "file_sd_configs": [{"files": [str(tmp_path / "django-*.yml")]}],
                    }
                ]
            }
        )
    )
    done = promtool_check_config(config)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "does not exist" not in done.stdout + done.stderr
