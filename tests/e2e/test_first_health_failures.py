"""A health target's first failure, after Prometheus already scrapes, is counted exactly.

The test project under gunicorn has an extra /health check that fails as many more times
as a file says; the exporter probes it every second and two Prometheus servers scrape the
exporter. increase(health_check_failures_total) must count exactly the probes that failed:
1 for a single failure, then each of a run of failures, the same number the exporter
counted. A second target, down from its very first probe (before any Prometheus scraped
the exporter), shows the hold at work: its failures counter is past 0 at its first scrape,
and still every failed probe is counted.
"""

from __future__ import annotations

import json

import pytest

from local_services.exporter import ExporterProcess
from local_services.gunicorn import GunicornServer
from local_services.ports import free_port
from tests.django_middleware.helpers import WSGI_APP, server_env
from tests.support.increase import HOLD, WINDOW, assert_counted, two_prometheus, wait_scraping

pytestmark = pytest.mark.slow

CHECK = "tests.django_middleware.project.checks.countdown"
FAILURES = "health_check_failures_total"


@pytest.fixture
def stack(tmp_path):
    failures_file = tmp_path / "failures-left"
    failures_file.write_text("0")
    app = GunicornServer(
        tmp_path / "app",
        WSGI_APP,
        workers=1,
        multiprocess=False,
        config=None,
        env=server_env(
            PAINEL_TEST_SETTINGS=json.dumps({"HEALTH_CHECKS": [CHECK]}),
            PAINEL_TEST_FAILURES_FILE=str(failures_file),
        ),
    )
    target = f"{app.url}/health"
    down = f"http://127.0.0.1:{free_port()}/health"
    flags = [
        "--collectors", "health",
        "--health-url", target,
        "--health-url", down,
        "--interval", "1",
        "--max-scrape-interval", str(HOLD),
    ]  # fmt: skip
    exporter = ExporterProcess(tmp_path / "exporter", flags)
    started = []
    try:
        started.append(app.start())
        servers = two_prometheus(tmp_path, [app.url[7:]], [f"127.0.0.1:{exporter.port}"])
        for server in servers:
            started.append(server.start())
        # started while Prometheus already scrapes its port, as after a restart: every
        # server's first scrape of it falls within the hold
        started.append(exporter.start())
        wait_scraping(servers, 2)
        for server in servers:  # the target's probes counted: its hold is over
            server.wait_until(lambda s=server: s.value(f'health_checks_total{{target="{target}"}}'))
        yield failures_file, exporter, servers, target, down
    finally:
        for service in reversed(started):
            service.stop()


def _fail_next(failures_file, exporter, target, probes: int, total: int) -> None:
    """Make the next `probes` probes fail; wait until the exporter counted `total` failures."""
    assert exporter.scrape().value(FAILURES, target=target) == total - probes
    failures_file.write_text(str(probes))
    exporter.wait_for(lambda s: s.value(FAILURES, target=target) == total, timeout=30)
    assert failures_file.read_text() == "0"


def test_a_health_targets_first_failure_is_counted_once(stack):
    failures_file, exporter, servers, target, down = stack
    by_target = f'{{target="{target}"}}'
    by_component = f'{{target="{target}",component="countdown"}}'

    _fail_next(failures_file, exporter, target, 1, total=1)
    assert_counted(
        servers,
        {
            FAILURES + by_target: 1,
            "health_component_failures_total" + by_component: 1,
        },
    )

    _fail_next(failures_file, exporter, target, 3, total=4)
    assert_counted(
        servers,
        {FAILURES + by_target: 4, "health_component_failures_total" + by_component: 4},
    )

    # down from its first probe, before any scrape: every failure counted, the first too,
    # exactly what the exporter counted by the latest sample
    down_failures = f'{FAILURES}{{target="{down}"}}'
    for server in servers:
        at = float(server.query(f"{down_failures}[1m]")[0]["values"][-1][0])
        stored = server.value(down_failures, at=at)
        assert stored >= 5
        assert server.value(f"increase({down_failures}[{WINDOW}])", at=at) == stored
