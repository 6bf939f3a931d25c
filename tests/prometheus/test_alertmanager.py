"""prometheus/alertmanager.yml in a real Alertmanager: a critical alert silences its warning."""

from __future__ import annotations

import httpx

from local_services.paths import REPO_ROOT
from local_services.prometheus import AlertmanagerServer
from local_services.waiting import wait_until

CONFIG = REPO_ROOT / "prometheus" / "alertmanager.yml"


def alert(severity: str, instance: str) -> dict:
    return {
        "labels": {
            "alertname": "NodeCPUHighUsage",
            "severity": severity,
            "job": "painel-exporter",
            "instance": instance,
        },
        "annotations": {"summary": f"{severity} on {instance}"},
    }


def test_critical_inhibits_the_warning_of_the_same_alert_and_instance_only(tmp_path):
    alertmanager = AlertmanagerServer(tmp_path, config=CONFIG).start()
    try:
        sent = [alert("critical", "a:9811"), alert("warning", "a:9811"), alert("warning", "b:9811")]
        httpx.post(f"{alertmanager.url}/api/v2/alerts", json=sent, timeout=10).raise_for_status()

        def states() -> dict[tuple[str, str], str]:
            return {
                (a["labels"]["severity"], a["labels"]["instance"]): a["status"]["state"]
                for a in alertmanager.alerts()
            }

        wait_until(lambda: "suppressed" in states().values(), 15, what="a suppressed alert")
        assert states() == {
            ("critical", "a:9811"): "active",
            ("warning", "a:9811"): "suppressed",
            ("warning", "b:9811"): "active",
        }
        assert {r["name"] for a in alertmanager.alerts() for r in a["receivers"]} == {"default"}
    finally:
        alertmanager.stop()
