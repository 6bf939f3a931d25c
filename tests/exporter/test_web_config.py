"""--web.config.file: TLS, client certificates and bcrypt basic auth, as real clients see them.

Certificates come from CAs made in the test; clients are Python's ssl, curl and Prometheus.
"""

from __future__ import annotations

import base64
import http.client
import shutil
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import bcrypt
import pytest
import yaml

from exporter.web.users import BcryptUsers
from local_services.exporter import ExporterProcess
from local_services.paths import REPO_ROOT
from local_services.ports import free_port
from local_services.process import ManagedProcess
from local_services.waiting import wait_for_port, wait_until
from tests.support.certificates import CertificateAuthority

USER, PASSWORD = "prometheus", "s3cret-Scrape"


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def hashed(password: str) -> str:
    # cost 4 keeps the test quick; the format is the same as htpasswd -B's
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


def write_config(path: Path, doc: dict) -> None:
    # a new inode and a new mtime, as an editor or a ConfigMap update leaves it
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(doc))
    tmp.replace(path)


def client_context(ca: Path, cert=None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca))
    if cert is not None:
        ctx.load_cert_chain(cert.cert, cert.key)
    return ctx


def https_get(port: int, ctx: ssl.SSLContext, headers=None, path="/metrics"):
    """(status, headers, body) of one GET over TLS to 127.0.0.1:port."""
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        answer = conn.getresponse()
        return answer.status, dict(answer.headers), answer.read().decode()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca, other = CertificateAuthority("fleet CA", d), CertificateAuthority("other CA", d)
    return {
        "dir": d,
        "ca": ca,
        "other": other,
        "server": ca.issue("exporter", d / "server"),
        "server2": ca.issue("exporter renewed", d / "server2"),
        "expired": ca.issue("exporter", d / "expired", expired=True),
        "client": ca.issue("prometheus", d / "client", client=True, sans=("prometheus",)),
        "expired_client": ca.issue("prometheus", d / "old-client", client=True, expired=True),
        "foreign_client": other.issue("prometheus", d / "foreign-client", client=True),
    }


def tls_doc(pki, server="server", **extra) -> dict:
    return {
        "tls_server_config": {
            "cert_file": str(pki[server].cert),
            "key_file": str(pki[server].key),
            **extra,
        }
    }


@pytest.fixture(scope="module")
def tls_exporter(tmp_path_factory, pki):
    workdir = tmp_path_factory.mktemp("tls-exporter")
    config = workdir / "web.yml"
    write_config(
        config,
        {
            **tls_doc(pki),
            "basic_auth_users": {USER: hashed(PASSWORD)},
            "http_server_config": {"headers": {"X-Frame-Options": "deny"}},
        },
    )
    flags = ["--collectors", "system", "--web.config.file", str(config)]
    with ExporterProcess(workdir, flags) as running:
        yield running


def test_a_tls_client_with_the_password_reads_metrics(tls_exporter, pki):
    status, headers, body = https_get(
        tls_exporter.port, client_context(pki["ca"].cert_path), basic(USER, PASSWORD)
    )
    assert status == 200
    assert "node_cpu_seconds_total" in body
    assert headers["X-Frame-Options"] == "deny"


@pytest.mark.parametrize(
    "headers", [{}, basic(USER, "wrong"), basic("alice", PASSWORD), {"Authorization": "Basic !!"}]
)
def test_a_wrong_or_missing_password_is_refused(tls_exporter, pki, headers):
    status, answer_headers, body = https_get(
        tls_exporter.port, client_context(pki["ca"].cert_path), headers
    )
    assert status == 401
    assert answer_headers["WWW-Authenticate"] == 'Basic realm="painel-exporter"'
    assert "node_" not in body


def test_a_client_trusting_another_ca_refuses_the_exporter(tls_exporter, pki):
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
        https_get(tls_exporter.port, client_context(pki["other"].cert_path), basic(USER, PASSWORD))


def test_plain_http_to_the_tls_port_is_told_so_and_the_exporter_stays_up(tls_exporter, pki):
    with socket.create_connection(("127.0.0.1", tls_exporter.port), timeout=10) as plain:
        plain.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while chunk := plain.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.0 400 Bad Request")
    assert b"Client sent an HTTP request to an HTTPS server." in answer
    # and garbage that is no HTTP either, then a client that connects and leaves
    with socket.create_connection(("127.0.0.1", tls_exporter.port), timeout=10) as junk:
        junk.sendall(b"\x16\x03\x01\x00\x05hello")
    socket.create_connection(("127.0.0.1", tls_exporter.port), timeout=10).close()
    status, _, _ = https_get(
        tls_exporter.port, client_context(pki["ca"].cert_path), basic(USER, PASSWORD)
    )
    assert status == 200


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_reads_metrics_over_tls(tls_exporter, pki):
    url = f"https://localhost:{tls_exporter.port}/metrics"
    ok = subprocess.run(
        ["curl", "-sS", "--cacert", str(pki["ca"].cert_path), "-u", f"{USER}:{PASSWORD}", url],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert ok.returncode == 0, ok.stderr
    assert "node_cpu_seconds_total" in ok.stdout
    wrong = subprocess.run(
        [
            "curl",
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--cacert",
            str(pki["ca"].cert_path),
            "-u",
            f"{USER}:nope",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert wrong.stdout == "401"
    untrusted = subprocess.run(["curl", "-sS", url], capture_output=True, text=True, timeout=30)
    assert untrusted.returncode == 60, untrusted.stderr  # peer certificate cannot be authenticated


def test_client_certificates_are_required_and_verified(tmp_path, pki):
    config = tmp_path / "web.yml"
    write_config(
        config,
        tls_doc(
            pki,
            client_auth_type="RequireAndVerifyClientCert",
            client_ca_file=str(pki["ca"].cert_path),
        ),
    )
    flags = ["--collectors", "system", "--web.config.file", str(config)]
    with ExporterProcess(tmp_path, flags) as exporter:
        ca = pki["ca"].cert_path
        status, _, body = https_get(exporter.port, client_context(ca, pki["client"]))
        assert status == 200 and "node_cpu_seconds_total" in body
        for cert in (None, pki["foreign_client"], pki["expired_client"]):
            # TLS 1.3 reports the refusal on the first read, as an SSL error or a reset
            with pytest.raises((ssl.SSLError, ConnectionError)):
                https_get(exporter.port, client_context(ca, cert))
        assert https_get(exporter.port, client_context(ca, pki["client"]))[0] == 200
        assert "TLS handshake with 127.0.0.1 failed" in exporter.log()


def test_client_allowed_sans_refuses_other_names(tmp_path, pki):
    config = tmp_path / "web.yml"
    write_config(
        config,
        tls_doc(
            pki,
            client_auth_type="RequireAndVerifyClientCert",
            client_ca_file=str(pki["ca"].cert_path),
            client_allowed_sans=["grafana-agent"],
        ),
    )
    flags = ["--collectors", "system", "--web.config.file", str(config)]
    with ExporterProcess(tmp_path, flags) as exporter:
        with pytest.raises((ssl.SSLError, ConnectionError, http.client.HTTPException)):
            https_get(exporter.port, client_context(pki["ca"].cert_path, pki["client"]))
        write_config(
            config,
            tls_doc(
                pki,
                client_auth_type="RequireAndVerifyClientCert",
                client_ca_file=str(pki["ca"].cert_path),
                client_allowed_sans=["grafana-agent", "prometheus"],
            ),
        )
        status, _, _ = https_get(exporter.port, client_context(pki["ca"].cert_path, pki["client"]))
        assert status == 200


def test_password_and_certificate_changes_apply_without_a_restart(tmp_path, pki):
    config = tmp_path / "web.yml"
    write_config(config, {**tls_doc(pki), "basic_auth_users": {USER: hashed(PASSWORD)}})
    flags = ["--collectors", "system", "--web.config.file", str(config)]
    ca = client_context(pki["ca"].cert_path)
    with ExporterProcess(tmp_path, flags) as exporter:
        pid = exporter.process.pid
        assert https_get(exporter.port, ca, basic(USER, PASSWORD))[0] == 200

        write_config(config, {**tls_doc(pki), "basic_auth_users": {USER: hashed("n3w-pass")}})
        assert https_get(exporter.port, ca, basic(USER, PASSWORD))[0] == 401
        assert https_get(exporter.port, ca, basic(USER, "n3w-pass"))[0] == 200

        # a renewed certificate: the file names other files, then the same file is rewritten
        write_config(
            config, {**tls_doc(pki, "server2"), "basic_auth_users": {USER: hashed("n3w-pass")}}
        )
        assert _served_common_name(exporter.port, pki) == "exporter renewed"
        shutil.copy(pki["expired"].cert, pki["dir"] / "rotating.crt")
        shutil.copy(pki["expired"].key, pki["dir"] / "rotating.key")
        doc = {
            "tls_server_config": {
                "cert_file": str(pki["dir"] / "rotating.crt"),
                "key_file": str(pki["dir"] / "rotating.key"),
            },
            "basic_auth_users": {USER: hashed("n3w-pass")},
        }
        write_config(config, doc)
        with pytest.raises(ssl.SSLCertVerificationError, match="certificate has expired"):
            https_get(exporter.port, ca, basic(USER, "n3w-pass"))
        time.sleep(0.01)  # a distinct mtime on filesystems with coarse timestamps
        for suffix in ("crt", "key"):
            src = getattr(pki["server"], "cert" if suffix == "crt" else "key")
            tmp = pki["dir"] / f"rotating.{suffix}.new"
            shutil.copy(src, tmp)
            tmp.replace(pki["dir"] / f"rotating.{suffix}")
        assert https_get(exporter.port, ca, basic(USER, "n3w-pass"))[0] == 200

        # a broken edit keeps the last good configuration, and the log says why
        write_config(config, {**doc, "basic_auth_users": {USER: "not-a-hash"}})
        assert https_get(exporter.port, ca, basic(USER, "n3w-pass"))[0] == 200
        wait_until(lambda: "keeping the last good configuration" in exporter.log(), 5)
        assert "not a bcrypt hash" in exporter.log()
        assert exporter.process.pid == pid


def _served_common_name(port: int, pki) -> str:
    ctx = client_context(pki["ca"].cert_path)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        subject = dict(item[0] for item in tls.getpeercert()["subject"])
    return subject["commonName"]


def test_bearer_token_and_basic_auth_flags_combine_with_the_file(tmp_path, pki):
    config = tmp_path / "web.yml"
    write_config(config, {"basic_auth_users": {USER: hashed(PASSWORD)}})  # auth, no TLS
    flags = ["--collectors", "system", "--web.config.file", str(config)]
    flags += ["--bearer-token", "t0ken", "--basic-auth", "legacy:pa55"]
    with ExporterProcess(tmp_path, flags) as exporter:
        for headers in (
            basic(USER, PASSWORD),
            basic("legacy", "pa55"),
            {"Authorization": "Bearer t0ken"},
        ):
            assert exporter.get("/metrics", headers=headers).status == 200
        refused = exporter.get("/metrics", headers=basic(USER, "pa55"))
        assert refused.status == 401
        assert refused.headers["WWW-Authenticate"] == (
            'Bearer realm="painel-exporter", Basic realm="painel-exporter"'
        )


@pytest.mark.parametrize(
    "content, message",
    [
        ("tls_server_config: [", "not valid YAML at line 1"),
        ("basic_auth: {a: b}\n", "unknown field 'basic_auth'"),
        (
            "basic_auth_users: {prometheus: plain}\n",
            "basic_auth_users.prometheus: not a bcrypt hash",
        ),
        (
            "tls_server_config: {cert_file: /nonexistent.crt, key_file: /nonexistent.key}\n",
            "tls_server_config.cert_file: cannot read /nonexistent.crt",
        ),
        (
            "tls_server_config: {cert_file: server.crt, key_file: client.key}\n",
            "the certificate and key do not load together",
        ),
        (
            "tls_server_config: {cert_file: server.crt, key_file: server.key, "
            "client_auth_type: RequireAndVerifyClientCert}\n",
            "needs client_ca_file",
        ),
        (
            "tls_server_config: {cert_file: server.crt, key_file: server.key, "
            "client_auth_type: RequireAnyClientCert}\n",
            "is not supported",
        ),
        (
            "tls_server_config: {cert_file: server.crt, key_file: server.key, min_version: TLS14}\n",
            "min_version: 'TLS14'",
        ),
        (
            "tls_server_config: {cert_file: server.crt, key_file: server.key, "
            "cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]}\n",
            "unknown or insecure suite",
        ),
    ],
)
def test_a_bad_file_stops_the_start_saying_what_to_fix(tmp_path, pki, content, message):
    # relative names are read beside the file, as exporter-toolkit does
    for name in ("server.crt", "server.key", "client.key"):
        shutil.copy(pki["dir"] / name, tmp_path / name)
    config = tmp_path / "web.yml"
    config.write_text(content)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "exporter",
            "--collectors",
            "system",
            "--listen",
            f"127.0.0.1:{free_port()}",
            "--web.config.file",
            str(config),
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
    )
    assert run.returncode == 2
    assert run.stderr.startswith(f"painel-exporter: error: --web.config.file {config}: ")
    assert message in run.stderr


def test_a_verified_password_is_not_hashed_again(monkeypatch):
    users = BcryptUsers({USER: hashed(PASSWORD).encode()})
    calls = []
    real = bcrypt.checkpw
    monkeypatch.setattr(bcrypt, "checkpw", lambda *a: calls.append(1) or real(*a))
    assert all(users.check(USER, PASSWORD) for _ in range(5))
    assert not any(users.check(USER, "wrong") for _ in range(5))
    assert len(calls) == 2


def test_prometheus_scrapes_with_tls_client_certificate_and_basic_auth(tmp_path, pki):
    config = tmp_path / "web.yml"
    write_config(
        config,
        {
            **tls_doc(
                pki,
                client_auth_type="RequireAndVerifyClientCert",
                client_ca_file=str(pki["ca"].cert_path),
            ),
            "basic_auth_users": {USER: hashed(PASSWORD)},
        },
    )
    flags = ["--collectors", "system", "--web.config.file", str(config)]
    with ExporterProcess(tmp_path / "exporter", flags) as exporter:
        job = {
            "scheme": "https",
            "tls_config": {
                "ca_file": str(pki["ca"].cert_path),
                "cert_file": str(pki["client"].cert),
                "key_file": str(pki["client"].key),
                "server_name": "localhost",
            },
            "basic_auth": {"username": USER, "password": PASSWORD},
            "static_configs": [{"targets": [f"127.0.0.1:{exporter.port}"]}],
        }
        wrong = {**job, "basic_auth": {"username": USER, "password": "wrong"}}
        prom_config = {
            "global": {"scrape_interval": "1s"},
            "scrape_configs": [{"job_name": "painel", **job}, {"job_name": "wrong", **wrong}],
        }
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(prom_config))
        port = free_port()
        prometheus = ManagedProcess(
            f"prometheus-{port}",
            [
                shutil.which("prometheus") or "prometheus",
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            tmp_path,
        )
        prometheus.start(ready=lambda: wait_for_port(port, timeout=60))
        try:

            def targets() -> dict[str, dict]:
                import httpx

                answer = httpx.get(f"http://127.0.0.1:{port}/api/v1/targets", timeout=5).json()
                return {t["labels"]["job"]: t for t in answer["data"]["activeTargets"]}

            wait_until(
                lambda: {t["health"] for t in targets().values()} == {"up", "down"},
                30,
                what="both jobs scraped once",
            )
            found = targets()
            assert found["painel"]["health"] == "up", found["painel"]["lastError"]
            assert "401" in found["wrong"]["lastError"]
        finally:
            prometheus.stop()
