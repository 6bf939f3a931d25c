"""/metrics and the landing page over HTTP: formats, compression, auth."""

from __future__ import annotations

import base64
import gzip
import http.client
import logging
import urllib.request

import pytest

from exporter.credentials import ScrubSecretsFilter, mask_url, remember_secret
from local_services.exporter import ExporterProcess
from local_services.scrape import Scrape
from tests.support.documented import undocumented

TOKEN = "t0ken-for-prometheus"
USER, PASSWORD = "prometheus", "b4sic-Secret"
BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
REDIS_PASSWORD = "r3dis-Secret"


@pytest.fixture(scope="module")
def exporter(tmp_path_factory, shared_redis):
    # the shared server has no password set: Redis accepts and ignores the one given
    redis_url = f"redis://:{REDIS_PASSWORD}@{shared_redis.addr}/0"
    flags = ["--collectors", "system,redis", "--redis-url", redis_url]
    env = {
        "PAINEL_EXPORTER_BASIC_AUTH": f"{USER}:{PASSWORD}",
        "PAINEL_EXPORTER_BEARER_TOKEN": TOKEN,
    }
    with ExporterProcess(tmp_path_factory.mktemp("server"), flags, env=env) as running:
        yield running


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer wrong",
        f"Bearer {TOKEN}x",
        "Basic " + base64.b64encode(b"prometheus:no").decode(),
    ],
)
def test_without_valid_credentials_nothing_is_shown(exporter, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    for path in ("/metrics", "/"):
        answer = exporter.get(path, headers=headers)
        assert answer.status == 401
        # every configured scheme, as the app's /metrics lists them
        assert answer.headers["WWW-Authenticate"] == (
            'Bearer realm="painel-exporter", Basic realm="painel-exporter"'
        )
        assert "node_" not in answer.body and "redis" not in answer.body


def test_the_challenge_names_only_the_configured_scheme(tmp_path):
    flags = ["--collectors", "system", "--basic-auth", f"{USER}:{PASSWORD}"]
    with ExporterProcess(tmp_path, flags) as running:
        refused = running.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert refused.status == 401
        assert refused.headers["WWW-Authenticate"] == 'Basic realm="painel-exporter"'
        assert running.get("/metrics", headers={"Authorization": BASIC}).status == 200


@pytest.mark.parametrize(
    "authorization", [BASIC, f"Bearer {TOKEN}", BASIC.replace("Basic", "basic")]
)
def test_basic_auth_or_bearer_token_opens_metrics(exporter, authorization):
    answer = exporter.get("/metrics", headers={"Authorization": authorization})
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    scrape = Scrape(answer.body)
    assert scrape.value("painel_exporter_collector_success", collector="system") == 1
    assert scrape.value("painel_exporter_build_info", version="0.1.0") == 1
    assert scrape.value("process_resident_memory_bytes") > 0
    self_metrics = ("painel_exporter_collector_", "painel_exporter_build_info", "process_")
    assert undocumented(scrape, self_metrics) == []


def test_openmetrics_when_asked(exporter):
    answer = exporter.get(
        "/metrics",
        headers={
            "Authorization": BASIC,
            "Accept": "application/openmetrics-text; version=1.0.0; charset=utf-8",
        },
    )
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("application/openmetrics-text")
    assert answer.body.endswith("# EOF\n")
    assert "# TYPE node_cpu_seconds counter" in answer.body


def test_gzip_when_accepted(exporter):
    request = urllib.request.Request(
        exporter.url + "/metrics", headers={"Authorization": BASIC, "Accept-Encoding": "gzip"}
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.headers["Content-Encoding"] == "gzip"
        text = gzip.decompress(answer.read()).decode()
    assert Scrape(text).value("painel_exporter_collector_success", collector="redis") == 1


def test_landing_page_lists_collectors_and_masked_targets(exporter, shared_redis):
    exporter.get("/metrics", headers={"Authorization": BASIC})  # so there is a last result
    page = exporter.get("/", headers={"Authorization": BASIC})
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "<h2>system</h2>" in page.body and "<h2>redis</h2>" in page.body
    assert f"<td>redis://:***@{shared_redis.addr}/0</td><td>up, " in page.body
    assert REDIS_PASSWORD not in page.body
    assert "/metrics" in page.body


def test_unknown_path_is_404(exporter):
    assert exporter.get("/nope", headers={"Authorization": BASIC}).status == 404


def test_secrets_never_reach_output_or_log(exporter):
    scrape = exporter.get("/metrics", headers={"Authorization": BASIC}).body
    for secret in (REDIS_PASSWORD, PASSWORD, TOKEN):
        assert secret not in scrape and secret not in exporter.log()


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://:pw@host:6379/0", "redis://:***@host:6379/0"),
        ("redis://user:p%40ss@host:6379", "redis://user:***@host:6379"),
        ("redis://user@host:6379", "redis://user@host:6379"),
        ("redis://host:6379/0?password=pw&db=1", "redis://host:6379/0?password=***&db=1"),
        ("amqp://guest:guest@rabbit:5672//", "amqp://guest:***@rabbit:5672//"),
        ("http://app:8000/health", "http://app:8000/health"),
        ("unix:///run/redis.sock", "unix:///run/redis.sock"),
    ],
)
def test_mask_url(url, masked):
    assert mask_url(url) == masked


@pytest.mark.parametrize(
    ("message", "args"),
    [
        ("connecting to %s failed", ("redis://:f1lter-Secret@cache:6379",)),
        ("connecting to %s failed", ("redis://:f1lter-Secret@cache:6379", "extra")),  # bad args
    ],
)
def test_log_records_are_scrubbed_whatever_their_arguments(message, args):
    remember_secret("f1lter-Secret")
    record = logging.LogRecord("a.library", logging.WARNING, __file__, 1, message, args, None)
    assert ScrubSecretsFilter().filter(record)
    text = logging.Formatter().format(record)  # would raise on bad args if left as they were
    assert "f1lter-Secret" not in text and "redis://:***@cache:6379" in text


def test_one_connection_serves_many_scrapes(exporter):
    connection = http.client.HTTPConnection("127.0.0.1", exporter.port, timeout=5)
    try:
        for path in ("/metrics", "/nope", "/metrics"):
            connection.request("GET", path, headers={"Authorization": BASIC})
            answer = connection.getresponse()
            answer.read()
            assert answer.status == (404 if path == "/nope" else 200)
        assert connection.sock is not None  # still open: Prometheus reuses it
    finally:
        connection.close()
