"""prometheus/alertmanager.yml in a real Alertmanager: one cause, one page.

Inhibition is not in amtool's reach (`amtool config routes test` routes, it does not
inhibit), so the alerts go to a real Alertmanager and its API says which are suppressed.
"""

from __future__ import annotations

import shutil
import subprocess
import time

import httpx
import pytest

from local_services.paths import REPO_ROOT
from local_services.prometheus import AlertmanagerServer

CONFIG = REPO_ROOT / "prometheus" / "alertmanager.yml"
EXPORTER = {"job": "painel-exporter", "instance": "exporter:9811"}


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory):
    server = AlertmanagerServer(tmp_path_factory.mktemp("alertmanager"), config=CONFIG).start()
    yield server
    server.stop()


def alert(name: str, severity: str, **labels: str) -> dict:
    labels = {"alertname": name, "severity": severity, **labels}
    return {"labels": labels, "annotations": {"summary": name}}


def states(alertmanager, sent: list[dict], suppressed: int) -> dict[tuple, str]:
    """State of each sent alert (by its labels), once `suppressed` of them are suppressed."""
    httpx.post(f"{alertmanager.url}/api/v2/alerts", json=sent, timeout=10).raise_for_status()
    keys = {tuple(sorted(a["labels"].items())) for a in sent}
    deadline = time.monotonic() + 15
    while True:
        seen = {
            key: a["status"]["state"]
            for a in alertmanager.alerts()
            if (key := tuple(sorted(a["labels"].items()))) in keys
        }
        done = len(seen) == len(keys) and list(seen.values()).count("suppressed") >= suppressed
        if done or time.monotonic() > deadline:
            return {_name(dict(key)): state for key, state in seen.items()}
        time.sleep(0.1)


def _name(labels: dict) -> str:
    """`alertname severity where`, where being what the alert is about."""
    where = labels.get("target") or labels.get("addr") or labels.get("instance") or labels["job"]
    return f"{labels['alertname']} {labels['severity']} {where}"


def test_critical_inhibits_the_warning_of_the_same_alert_and_instance_only(alertmanager):
    sent = [
        alert("NodeCPUHighUsage", "critical", job="painel-exporter", instance="a:9811"),
        alert("NodeCPUHighUsage", "warning", job="painel-exporter", instance="a:9811"),
        alert("NodeCPUHighUsage", "warning", job="painel-exporter", instance="b:9811"),
    ]
    assert states(alertmanager, sent, suppressed=1) == {
        "NodeCPUHighUsage critical a:9811": "active",
        "NodeCPUHighUsage warning a:9811": "suppressed",
        "NodeCPUHighUsage warning b:9811": "active",
    }


def test_an_outage_of_the_apps_redis_pages_once(alertmanager):
    """RedisDown, the app's failing /health and its cache component: one page, RedisDown."""
    sent = [
        alert("RedisDown", "critical", addr="cache:6379", **EXPORTER),
        alert("HealthCheckFailing", "critical", target="http://app:8000/health", **EXPORTER),
        alert(
            "HealthComponentDown",
            "warning",
            target="http://app:8000/health",
            component="cache",
            **EXPORTER,
        ),
    ]
    assert states(alertmanager, sent, suppressed=2) == {
        "RedisDown critical cache:6379": "active",
        "HealthCheckFailing critical http://app:8000/health": "suppressed",
        "HealthComponentDown warning http://app:8000/health": "suppressed",
    }


def test_a_failing_health_check_holds_back_its_own_components_only(alertmanager):
    other = {"job": "painel-exporter", "instance": "other:9811"}
    sent = [
        alert("HealthCheckFailing", "critical", target="http://shop:8000/health", **other),
        alert(
            "HealthComponentDown",
            "warning",
            target="http://shop:8000/health",
            component="database",
            **other,
        ),
        alert(
            "HealthComponentDown",
            "warning",
            target="http://admin:8000/health",
            component="database",
            **other,
        ),
    ]
    assert states(alertmanager, sent, suppressed=1) == {
        "HealthCheckFailing critical http://shop:8000/health": "active",
        "HealthComponentDown warning http://shop:8000/health": "suppressed",
        "HealthComponentDown warning http://admin:8000/health": "active",
    }


def test_a_broker_outage_pages_once_for_everything_celery_of_that_exporter(alertmanager):
    celery = {"job": "painel-exporter", "instance": "celery:9811"}
    sent = [
        alert("CeleryBrokerDown", "critical", **celery),
        alert("CeleryWorkerDown", "warning", hostname="w1@host", **celery),
        alert("CeleryEventsMissing", "warning", **celery),
        alert("CeleryQueueBacklog", "warning", queue_name="celery", **celery),
        alert("CeleryWorkerDown", "warning", hostname="w9@elsewhere", job="painel-exporter",
              instance="elsewhere:9811"),
    ]  # fmt: skip
    assert states(alertmanager, sent, suppressed=3) == {
        "CeleryBrokerDown critical celery:9811": "active",
        "CeleryWorkerDown warning celery:9811": "suppressed",
        "CeleryEventsMissing warning celery:9811": "suppressed",
        "CeleryQueueBacklog warning celery:9811": "suppressed",
        "CeleryWorkerDown warning elsewhere:9811": "active",
    }


def test_a_paging_error_budget_burn_holds_back_the_error_rate_alert_of_its_job(alertmanager):
    sent = [
        alert("DjangoErrorBudgetBurn", "critical", job="shop"),
        alert("DjangoErrorBudgetBurn", "warning", job="shop"),
        alert("DjangoHighErrorRate", "critical", job="shop"),
        alert("DjangoHighErrorRate", "critical", job="admin"),
    ]
    assert states(alertmanager, sent, suppressed=2) == {
        "DjangoErrorBudgetBurn critical shop": "active",
        "DjangoErrorBudgetBurn warning shop": "suppressed",
        "DjangoHighErrorRate critical shop": "suppressed",
        "DjangoHighErrorRate critical admin": "active",
    }


def test_amtool_routes_the_watchdog_to_its_own_receiver_and_the_rest_to_default():
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.fail("amtool is not installed: run `bash scripts/bootstrap.sh`")

    def receiver(*labels: str) -> str:
        done = subprocess.run(
            [amtool, "config", "routes", "test", f"--config.file={CONFIG}", *labels],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout.strip()

    assert receiver("alertname=Watchdog", "severity=none") == "watchdog"
    assert receiver("alertname=RedisDown", "severity=critical") == "default"
    assert receiver("alertname=CeleryWorkerDown", "severity=warning") == "default"
