"""/health with pluggable checks, each bounded by the timeout (in-process; the real
redis-server going away and coming back is in test_gunicorn.py)."""

from __future__ import annotations

CHECKS = "tests.django_middleware.project.checks"


def test_pluggable_checks_and_the_timeout(client, painel):
    with painel(HEALTH_CHECKS=[f"{CHECKS}.search_index", f"{CHECKS}.hangs"], HEALTH_TIMEOUT=0.2):
        first = client.get("/health")
        second = client.get("/health")
    assert first.status_code == 503
    body = first.json()
    assert body["status"] == "error"
    assert body["components"]["database"]["status"] == "ok"
    assert body["components"]["search_index"]["status"] == "ok"
    hung = body["components"]["slow_dependency"]
    assert (hung["status"], hung["error"]) == ("error", "no answer within 0.2s")
    assert hung["latency_seconds"] == 0.2
    # Still hanging: reported at once, not started a second time.
    again = second.json()["components"]["slow_dependency"]
    assert again["error"] == "the previous check has not finished yet"


def test_all_up_is_200(client, painel):
    with painel(HEALTH_CHECKS=[f"{CHECKS}.search_index"]):
        response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert set(response.json()["components"]) == {"database", "cache", "search_index"}
