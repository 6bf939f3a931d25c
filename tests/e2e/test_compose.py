"""docker-compose.yml: valid, every file it mounts or builds exists, the pieces agree.

There is no Docker engine where the suite runs: a spec-compliant parser (compose-spec)
validates the file, `docker compose config` too when the Compose CLI is there, and the
checks below hold it against the repository (prometheus.yml, Grafana provisioning,
exporter flags).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from compose_spec import PyCompose
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from demo.stack import Stack
from local_services.paths import REPO_ROOT
from tests.support.exporter_flags import exporter_env_names

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
EXPECTED_SERVICES = {
    "redis", "cache", "app", "celery", "exporter", "load", "prometheus", "alertmanager", "grafana",
}  # fmt: skip


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def bind_mounts(service: dict) -> list[tuple[Path, str]]:
    """(host path, container path) of every bind mount (short syntax, ./ or / sources)."""
    mounts = []
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            mounts.append(((REPO_ROOT / source).resolve(), target))
    return mounts


def container_path(service: dict, host_path: Path) -> str | None:
    """Where `host_path` appears inside the container, if some bind mount holds it."""
    for source, target in bind_mounts(service):
        if host_path == source or source in host_path.parents:
            return (
                target + "/" + str(host_path.relative_to(source)) if host_path != source else target
            )
    return None


def command_args(service: dict) -> list[str]:
    command = service.get("command", [])
    return command.split() if isinstance(command, str) else [str(c) for c in command]


def test_compose_has_every_service_of_the_stack(services):
    assert set(services) == EXPECTED_SERVICES


def test_the_file_follows_the_compose_specification(compose):
    """compose-spec (the compose_spec Rust crate) rejects unknown keys and malformed values.

    It reads YAML without merge keys, so it gets the file as Compose sees it after
    PyYAML resolved the `<<: *python` merges; `x-` extension fields are dropped likewise.
    """
    resolved = {k: v for k, v in compose.items() if not k.startswith("x-")}
    PyCompose.from_yaml(yaml.safe_dump(resolved))  # raises ValueError saying what is wrong


def test_docker_compose_config_accepts_the_file_when_the_cli_is_there():
    """The Compose CLI's own validation; without the CLI, the structural tests stand alone."""
    cli = None
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    ):
        cli = ["docker", "compose"]
    elif shutil.which("docker-compose"):
        cli = ["docker-compose"]
    if cli is None:
        pytest.skip("no Docker Compose CLI on this machine; the YAML checks below still run")
    done = subprocess.run(
        [*cli, "-f", str(COMPOSE_FILE), "config", "--quiet"],
        capture_output=True,
        text=True,
        env={**os.environ, "GRAFANA_ADMIN_PASSWORD": "test-only"},
    )
    assert done.returncode == 0, done.stderr


def test_every_file_compose_mounts_or_builds_exists(services, compose):
    named = set(compose.get("volumes") or {})
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (REPO_ROOT / source).exists(), (
                    f"{name} mounts {source}, which does not exist"
                )
            else:
                assert source in named, f"{name} uses volume {source!r}, not declared"
        build = service.get("build")
        if build:
            context = REPO_ROOT / build["context"]
            dockerfile = context / build.get("dockerfile", "Dockerfile")
            assert dockerfile.is_file(), f"{name} builds from {dockerfile}, which does not exist"
            for line in dockerfile.read_text().splitlines():
                if line.startswith("COPY "):
                    for source in line.split()[1:-1]:
                        assert (context / source).exists(), f"{dockerfile}: COPY {source}"


def test_prometheus_scrapes_compose_services_on_the_ports_they_listen_on(services):
    prom = services["prometheus"]
    args = command_args(prom)
    assert "--storage.tsdb.retention.time=7d" in args
    assert "--enable-feature=exemplar-storage" in args
    config_in_container = next(a.split("=", 1)[1] for a in args if a.startswith("--config.file="))
    config_host = REPO_ROOT / "prometheus" / "prometheus.yml"
    assert container_path(prom, config_host) == config_in_container

    config = yaml.safe_load(config_host.read_text())
    # Rule files are relative to the config file: the rules must be mounted beside it.
    config_dir = config_in_container.rsplit("/", 1)[0]
    rules_target = container_path(prom, REPO_ROOT / "prometheus" / "rules")
    assert rules_target is not None, "prometheus/rules is not mounted"
    for pattern in config["rule_files"]:
        assert f"{config_dir}/{pattern}".startswith(rules_target + "/"), pattern

    listening = {
        "app": re.search(r"--bind=[\d.]+:(\d+)", " ".join(command_args(services["app"])))[1],
        "exporter": services["exporter"]["environment"]["PAINEL_EXPORTER_LISTEN"].split(":")[-1],
        "alertmanager": "9093",
    }
    targets = [
        t
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for t in static["targets"]
    ]
    targets += config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    for target in targets:
        host, port = target.split(":")
        assert host in services, f"prometheus.yml targets {target}: no such compose service"
        assert listening[host] == port, f"{target}: {host} listens on {listening[host]}"


def test_published_ports_are_local_and_distinct(services):
    published = [p for s in services.values() for p in s.get("ports", [])]
    assert all(p.startswith("127.0.0.1:") for p in published), published
    host_ports = [p.split(":")[1] for p in published]
    assert len(host_ports) == len(set(host_ports)), host_ports


def test_app_runs_gunicorn_with_multiprocess_metrics_and_celery_sends_events(services):
    app = services["app"]
    args = command_args(app)
    assert args[0] == "gunicorn" and "python:django_middleware.gunicorn" in args
    multiproc = app["environment"]["PROMETHEUS_MULTIPROC_DIR"]
    assert any(t.split(":")[0] == multiproc for t in app.get("tmpfs", [])), "no tmpfs for metrics"
    assert "-E" in command_args(services["celery"])
    load = command_args(services["load"])
    assert load[:3] == ["python", "-m", "demo.load"]
    assert any(a.startswith("--requests=") for a in load)
    assert any(a.startswith("--duration=") for a in load)


def test_grafana_gets_its_password_from_the_environment_and_the_provisioning(services):
    grafana = services["grafana"]
    password = grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"]
    assert re.fullmatch(r"\$\{[A-Z_]+:\?.+\}", password), "the password must come from the env"
    assert (
        container_path(grafana, REPO_ROOT / "grafana" / "provisioning")
        == "/etc/grafana/provisioning"
    )
    # Every dashboards provider reads a folder that is mounted from grafana/dashboards.
    providers = sorted((REPO_ROOT / "grafana" / "provisioning").glob("dashboards/*.y*ml"))
    assert providers, "grafana/provisioning/dashboards/ has no provider file"
    dashboards_target = container_path(grafana, REPO_ROOT / "grafana" / "dashboards")
    for provider_file in providers:
        for provider in yaml.safe_load(provider_file.read_text())["providers"]:
            assert provider["options"]["path"] == dashboards_target, provider_file
    datasources = sorted((REPO_ROOT / "grafana" / "provisioning").glob("datasources/*.y*ml"))
    urls = [d["url"] for f in datasources for d in yaml.safe_load(f.read_text())["datasources"]]
    assert "http://prometheus:9090" in urls, urls


def test_exporter_settings_name_real_flags(services, tmp_path):
    """A misspelt PAINEL_EXPORTER_* variable would be ignored silently: hold both lists
    (compose and the local stack) against the exporter's own flags."""
    known = exporter_env_names()
    compose_env = {k for k in services["exporter"]["environment"] if k.startswith("PAINEL_")}
    stack_env = {k for k in Stack(tmp_path).exporter_env() if k.startswith("PAINEL_")}
    assert compose_env - known == set()
    assert stack_env - known == set()
    assert compose_env - {"PAINEL_EXPORTER_LISTEN"} == stack_env


def test_the_image_leaves_local_state_out_of_copy_dot():
    """demo/Dockerfile copies the repository: never this machine's venv, history or run data."""
    ignored = set((REPO_ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", "run", "logs", "**/__pycache__"} <= ignored


def test_every_service_depends_only_on_services_of_the_file(services):
    """`docker compose config` refuses an undefined dependency; compose-spec does not check it."""
    for name, service in services.items():
        depends = service.get("depends_on", [])
        assert set(depends) <= set(services) - {name}, f"{name} depends on {depends}"


# What the image's processes load: the app under gunicorn (settings, urls, the cache backend,
# the gunicorn hooks), the Celery worker, the load generator and the exporter; with every
# module the image does not install made unimportable (argv[1:]), as in the image, where
# optional imports (kombu's yaml, httpx's command line) fall back and required ones fail.
IMAGE_IMPORTS = """
import importlib, sys
from importlib.abc import MetaPathFinder

class NotInTheImage(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in sys.argv[1:]:
            raise ModuleNotFoundError(f"No module named {name!r} (not in the image)", name=name)

sys.meta_path.insert(0, NotInTheImage())
import django
django.setup()
from django.core.cache import caches
caches["default"]
for name in ("demo.wsgi", "demo.urls", "demo.celery", "demo.tasks", "demo.load",
             "django_middleware.gunicorn", "exporter.__main__"):
    importlib.import_module(name)
"""


def image_extras() -> list[str]:
    """The extras of painel that demo/Dockerfile installs (`pip install ".[x]"`)."""
    text = (REPO_ROOT / "demo" / "Dockerfile").read_text()
    return [
        e for group in re.findall(r'pip install "\.\[([^\]]*)\]"', text) for e in group.split(",")
    ]


def installed_with(extras: list[str]) -> set[str]:
    """Distributions `pip install ".[extras]"` brings, from the installed metadata (painel's
    own is pyproject.toml's, as scripts/bootstrap.sh last installed it)."""
    todo = [Requirement(f"painel[{','.join(extras)}]")]
    found: set[str] = set()
    seen: set[tuple[str, frozenset]] = set()
    while todo:
        requirement = todo.pop()
        name, extras_wanted = canonicalize_name(requirement.name), frozenset(requirement.extras)
        if (name, extras_wanted) in seen:
            continue
        seen.add((name, extras_wanted))
        found.add(name)
        try:
            requires = metadata.requires(requirement.name) or []
        except metadata.PackageNotFoundError:
            continue  # not installed here: nothing of it can have been loaded either
        for text in requires:
            needed = Requirement(text)
            markers = [{"extra": e} for e in extras_wanted] or [{"extra": ""}]
            if needed.marker is None or any(needed.marker.evaluate(m) for m in markers):
                todo.append(needed)
    return found


def test_the_image_installs_the_demo_extra_which_holds_what_its_processes_load(services, tmp_path):
    """Not the dev extra (pytest, ruff...): what the image runs, and nothing it lacks."""
    assert image_extras() == ["demo"]
    installed = installed_with(image_extras())
    not_installed = sorted(
        module
        for module, dists in metadata.packages_distributions().items()
        if not {canonicalize_name(d) for d in dists} & installed
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "demo.settings", "DEMO_LOG_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", IMAGE_IMPORTS, *not_installed],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    # The programs the compose services run: gunicorn, celery, painel-exporter.
    scripts = {ep.name: ep.dist.name for ep in metadata.entry_points(group="console_scripts")}
    for name, service in services.items():
        program = command_args(service)[:1] or ["gunicorn"]  # the Dockerfile's CMD
        if service.get("image") == "painel-demo:latest" and program != ["python"]:
            assert canonicalize_name(scripts[program[0]]) in installed, f"{name} runs {program}"
