"""The command line: --help, environment variables, and one-line errors for bad values."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from exporter.collectors import modules
from exporter.collectors.base import ConfigError
from exporter.config import build_parser, load, parse_listen
from local_services.exporter import ExporterProcess
from local_services.paths import REPO_ROOT
from local_services.ports import free_port

PAINEL_EXPORTER = Path(sys.executable).with_name("painel-exporter")


def run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, env=env
    )


def test_help_documents_every_flag_and_its_environment_variable():
    answer = run(PAINEL_EXPORTER, "--help")
    assert answer.returncode == 0, answer.stderr
    help_text = " ".join(answer.stdout.split())  # argparse wraps lines
    flags = {o for a in build_parser(modules())._actions for o in a.option_strings}
    flags -= {"-h", "--help", "--version"}
    # the flags, whichever collector module defines them
    assert {"--listen", "--redis-url", "--broker-url", "--log-file", "--slow-request-log"} <= flags
    assert {"--health-url", "--interval", "--collectors", "--basic-auth", "--bearer-token"} <= flags
    for flag in flags:
        env = "PAINEL_EXPORTER_" + flag[2:].upper().replace("-", "_").replace(".", "_")
        assert f"{flag} " in help_text and f"[env {env}]" in help_text, flag
    assert "0.0.0.0:9811" in help_text
    version = run(PAINEL_EXPORTER, "--version")
    assert version.returncode == 0 and version.stdout.startswith("painel-exporter 0.1.0")


@pytest.mark.parametrize(
    ("argv", "environ", "hint"),
    [
        (["--interval", "soon"], {}, "--interval"),
        (["--interval", "-1"], {}, "positive number of seconds"),
        ([], {"PAINEL_EXPORTER_INTERVAL": "0"}, "PAINEL_EXPORTER_INTERVAL"),
        # values refused after parsing name their variable too
        ([], {"PAINEL_EXPORTER_LISTEN": "9811"}, "(set by PAINEL_EXPORTER_LISTEN)"),
        ([], {"PAINEL_EXPORTER_REDIS_URL": "ftp://host"}, "(set by PAINEL_EXPORTER_REDIS_URL)"),
        (["--listen", "9811"], {}, "HOST:PORT"),
        (["--listen", "host:99999"], {}, "HOST:PORT"),
        (["--collectors", "system,gpu"], {}, "unknown collector 'gpu'"),
        (["--collectors", "redis"], {}, "nothing to watch"),
        (["--redis-url", "ftp://host"], {}, "--redis-url"),
        (
            ["--redis-url", "redis://a:6379", "--redis-url", "redis://a:6379/2"],
            {},
            "give each server once",
        ),
        (["--health-url", "localhost:8000/health"], {}, "http://"),
        (["--health-url", "http://a/h", "--health-timeout", "20"], {}, "--interval"),
        (["--basic-auth", "secret-without-user"], {}, "USER:PASSWORD"),
        (["--system-fs-types-exclude", "(unclosed"], {}, "regular expression"),
        (["--no-such-flag"], {}, "unrecognized"),
        ([], {"PAINEL_EXPORTER_COLLECTORS": ""}, "at least one collector"),
        ([], {"PAINEL_EXPORTER_CELERY_ENABLE_EVENTS": "maybe"}, "use 1/true/yes or 0/false/no"),
    ],
)
def test_bad_values_say_what_to_fix(argv, environ, hint):
    with pytest.raises(ConfigError) as error:
        load(argv, environ)
    message = str(error.value)
    assert hint in message and "\n" not in message
    assert "secret-without-user" not in message  # a credential is never echoed


@pytest.mark.parametrize(
    "argv",
    [
        ["--redis-url", "redis://user:s3cret@[::1/0"],  # unclosed IPv6 bracket
        ["--health-url", "http://user:s3cret@[::1/health"],
        ["--health-url", "http://user:s3cret@app:port/health"],
        ["--broker-url", "redis://user:s3cret@[::1/0"],
        ["--bearer_token=s3cret"],  # a typo: argparse would quote the unknown argument
        ["--basic_auth", "user:s3cret"],
    ],
)
def test_a_bad_value_holding_a_credential_is_reported_without_it(argv):
    with pytest.raises(ConfigError) as error:
        load(argv, {})
    message = str(error.value)
    assert "s3cret" not in message and "\n" not in message
    assert argv[0].partition("=")[0] in message  # still says which flag to fix


def test_environment_fills_flags_and_the_command_line_wins():
    settings = load(
        ["--interval", "7"],
        {
            "PAINEL_EXPORTER_INTERVAL": "30",
            "PAINEL_EXPORTER_LISTEN": "127.0.0.1:9999",
            "PAINEL_EXPORTER_REDIS_URL": "redis://a:6379,\nredis://b:6380",
            "PAINEL_EXPORTER_BASIC_AUTH": "prom:pw",
            "PAINEL_EXPORTER_LOG_LEVEL": "WARNING",
        },
    )
    assert settings.args.log_level == "warning"
    assert settings.args.interval == 7
    assert (settings.host, settings.port) == ("127.0.0.1", 9999)
    assert settings.args.redis_url == ["redis://a:6379", "redis://b:6380"]
    assert settings.basic_auth == ("prom", "pw")
    assert [c.name for c in settings.collectors] == ["system", "redis"]


@pytest.mark.parametrize(
    ("listen", "address"),
    [
        ("0.0.0.0:9811", ("0.0.0.0", 9811)),
        (":9811", ("0.0.0.0", 9811)),
        ("[::]:9811", ("::", 9811)),
        ("exporter.local:80", ("exporter.local", 80)),
    ],
)
def test_listen_forms(listen, address):
    assert parse_listen(listen) == address


def test_health_timeout_follows_a_short_interval():
    settings = load(["--health-url", "http://app/health", "--interval", "2"], {})
    (health,) = [c for c in settings.collectors if c.name == "health"]
    assert [p.timeout for p in health.probes] == [1.6]


def test_bad_value_exits_non_zero_with_one_line():
    answer = run(sys.executable, "-m", "exporter", "--interval", "soon")
    assert answer.returncode != 0
    lines = answer.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("painel-exporter: error:"), answer.stderr


def test_port_in_use_exits_with_one_line(tmp_path):
    with ExporterProcess(tmp_path, ["--collectors", "system"]) as running:
        answer = run(PAINEL_EXPORTER, "--listen", f"127.0.0.1:{running.port}")
    assert answer.returncode != 0
    assert answer.stderr.strip().count("\n") == 0 and "--listen" in answer.stderr
    # the first one stopped cleanly on SIGTERM
    assert running.process.proc.returncode == 0 and "stopped" in running.log()


def test_repeatable_flags_from_the_environment_reach_a_running_exporter(
    tmp_path, shared_redis, redis_server
):
    env = {"PAINEL_EXPORTER_REDIS_URL": f"{shared_redis.url},{redis_server.url}"}
    port = free_port()
    env["PAINEL_EXPORTER_LISTEN"] = f"127.0.0.1:{port}"
    with ExporterProcess(tmp_path, ["--collectors", "redis"], env=env) as exporter:
        scrape = exporter.scrape()  # --listen on the command line overrides the variable
        assert scrape.value("redis_up", addr=shared_redis.addr) == 1
        assert scrape.value("redis_up", addr=redis_server.addr) == 1
