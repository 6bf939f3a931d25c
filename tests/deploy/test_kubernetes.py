"""deploy/kubernetes: what `kubectl apply -k` would send, checked offline.

Kubernetes' own objects against the API's JSON schemas (kubernetes-validate, strict: an
unknown field fails), the prometheus-operator's against its resources' models
(cloudcoil-models-prometheus-operator: a misspelt field is dropped by the model, and that
fails here); then what a user relies on: the same deployment as docker-compose.yml, the job
names the rules aggregate by, one exporter per Redis and broker, the host seen by the
DaemonSet, and the generated rules and dashboards in step with their sources.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import kubernetes_validate
import pytest
import yaml
from cloudcoil.models.prometheus_operator import v1 as monitoring

from deploy.kubernetes import render
from exporter.collectors.system import HOST_PATH_FLAGS
from local_services.paths import REPO_ROOT
from tests.deploy import kustomize
from tests.support.exporter_flags import exporter_env_names, exporter_flags

DEPLOY = REPO_ROOT / "deploy" / "kubernetes"
# The oldest Kubernetes the manifests are written for (docs/kubernetes.md), and the newest
# the schemas know.
KUBERNETES_VERSIONS = ["1.29", kubernetes_validate.utils.latest_version()]
MONITORING = {
    "PodMonitor": monitoring.PodMonitor,
    "ServiceMonitor": monitoring.ServiceMonitor,
    "PrometheusRule": monitoring.PrometheusRule,
}


@pytest.fixture(scope="module")
def resources() -> list[dict[str, Any]]:
    return kustomize.build(DEPLOY)


def find(resources, kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [
        r
        for r in resources
        if r["kind"] == kind and (name is None or r["metadata"]["name"] == name)
    ]


def one(resources, kind: str, name: str) -> dict[str, Any]:
    (found,) = find(resources, kind, name)
    return found


def container(workload: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [c for c in kustomize.pod_spec(workload)["containers"] if c["name"] == name]
    return found


def env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


def workloads(resources) -> list[dict[str, Any]]:
    return [r for r in resources if r["kind"] in ("Deployment", "DaemonSet")]


def exporters(resources) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(workload, container) of every painel-exporter container."""
    return [
        (w, c)
        for w in workloads(resources)
        for c in kustomize.pod_spec(w)["containers"]
        if c.get("command") == ["painel-exporter"]
    ]


def settings(container: dict[str, Any]) -> dict[str, str]:
    """An exporter container's settings as flag -> value, from its args and its env."""
    found = {}
    for arg in container.get("args", []):
        flag, _, value = arg.partition("=")
        found[flag] = value
    for name, value in env(container).items():
        flag = "--" + name.removeprefix("PAINEL_EXPORTER_").lower().replace("_", "-")
        found[flag] = value
    return found


# --- kustomize --------------------------------------------------------------------------


def test_kubectl_kustomize_builds_what_the_suite_checks():
    """The loader above is only trusted where it agrees with kustomize itself."""
    if shutil.which("kubectl") is None:
        pytest.skip("no kubectl on this machine; the checks below read the loader's output")
    built = subprocess.run(
        ["kubectl", "kustomize", str(DEPLOY)], capture_output=True, text=True, check=True
    ).stdout

    def by_name(docs):
        return {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d for d in docs}

    assert by_name(yaml.safe_load_all(built)) == by_name(kustomize.build(DEPLOY))


def test_every_file_of_the_directory_is_a_resource_of_the_kustomization():
    listed = set(yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())["resources"])
    on_disk = {str(p.relative_to(DEPLOY)) for p in DEPLOY.rglob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk


def test_the_image_is_the_one_compose_builds_and_the_user_overrides_by_name(resources):
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    images = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())["images"]
    assert [i["name"] for i in images] == ["painel"]
    built = f"{images[0]['newName']}:{images[0]['newTag']}"
    assert built == compose["x-python"]["image"]
    own = {c["image"] for c in kustomize.containers(resources) if "redis" not in c["image"]}
    assert own == {built}


# --- schemas ----------------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_kubernetes_objects_follow_the_api_schemas(resources, version):
    checked = 0
    for resource in resources:
        if resource["kind"] in MONITORING:
            continue
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{resource['kind']}/{resource['metadata']['name']}: {error.message}")
        checked += 1
    assert checked >= 10


def unknown_fields(given: Any, kept: Any, path: str = "") -> list[str]:
    """Paths of `given` that the model dropped (fields the resource does not have)."""
    if isinstance(given, dict):
        return [
            found
            for key, value in given.items()
            for found in (
                [f"{path}.{key}"]
                if not isinstance(kept, dict) or key not in kept
                else unknown_fields(value, kept[key], f"{path}.{key}")
            )
        ]
    if isinstance(given, list) and isinstance(kept, list):
        return [
            f
            for i, (g, k) in enumerate(zip(given, kept, strict=True))
            for f in unknown_fields(g, k, f"{path}[{i}]")
        ]
    return []


def test_prometheus_operator_objects_have_only_fields_of_the_operator(resources):
    kinds = set()
    for resource in resources:
        model = MONITORING.get(resource["kind"])
        if model is None:
            continue
        kinds.add(resource["kind"])
        kept = model.model_validate(resource).model_dump(
            by_alias=True, exclude_unset=True, mode="json"
        )
        name = f"{resource['kind']}/{resource['metadata']['name']}"
        assert unknown_fields(resource, kept) == [], name
    assert kinds == set(MONITORING)


def test_a_misspelt_field_is_caught():
    podmonitor = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": {"name": "x"},
        "spec": {"selector": {}, "podMetricsEndpoints": [{"port": "http", "intervall": "15s"}]},
    }
    kept = monitoring.PodMonitor.model_validate(podmonitor).model_dump(
        by_alias=True, exclude_unset=True, mode="json"
    )
    assert unknown_fields(podmonitor, kept) == [".spec.podMetricsEndpoints[0].intervall"]


# --- the same deployment as docker-compose.yml ------------------------------------------


@pytest.fixture(scope="module")
def compose_services() -> dict[str, Any]:
    return yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())["services"]


@pytest.mark.parametrize("service", ["app", "celery"])
def test_the_app_and_worker_run_as_compose_runs_them(resources, compose_services, service):
    ours = container(one(resources, "Deployment", service), service)
    theirs = compose_services[service]
    assert [a for a in ours["command"] if a != "--no-control-socket"] == theirs["command"]
    assert theirs["environment"].items() <= env(ours).items()


def test_every_host_a_url_names_is_a_service_on_that_port(resources):
    ports = {
        s["metadata"]["name"]: {p["port"] for p in s["spec"]["ports"]}
        for s in find(resources, "Service")
    }
    urls = [
        value
        for c in kustomize.containers(resources)
        for value in env(c).values()
        if "://" in value
    ]
    assert urls
    for url in urls:
        host, port = url.split("://")[1].split("/")[0].split(":")
        assert int(port) in ports.get(host, set()), f"{url}: no Service {host} on port {port}"


def test_every_service_selects_pods_that_have_its_target_port(resources):
    for service in find(resources, "Service"):
        pods = [
            w
            for w in workloads(resources)
            if selects(service["spec"]["selector"], w["spec"]["template"]["metadata"]["labels"])
        ]
        assert pods, service["metadata"]["name"]
        for port in service["spec"]["ports"]:
            named = {
                p["name"] for w in pods for c in kustomize.pod_spec(w)["containers"]
                for p in c.get("ports", [])
            }  # fmt: skip
            assert port["targetPort"] in named, service["metadata"]["name"]


# --- the exporter -----------------------------------------------------------------------


def test_every_exporter_setting_names_a_real_flag(resources):
    """A misspelt PAINEL_EXPORTER_* variable or flag would be ignored or stop the exporter."""
    for _, c in exporters(resources):
        assert {k for k in env(c) if k.startswith("PAINEL_")} <= exporter_env_names()
        assert {a.partition("=")[0] for a in c.get("args", [])} <= exporter_flags()


def test_compose_exporter_settings_are_all_somewhere(resources, compose_services):
    """Every target the compose exporter watches is watched by one of ours."""
    ours = {k: v for _, c in exporters(resources) for k, v in settings(c).items()}
    theirs = compose_services["exporter"]["environment"]
    for name, value in theirs.items():
        if name == "PAINEL_EXPORTER_LISTEN":
            continue
        flag = "--" + name.removeprefix("PAINEL_EXPORTER_").lower().replace("_", "-")
        wanted = set(str(value).split(","))
        found = {v for _, c in exporters(resources) for v in settings(c).get(flag, "").split(",")}
        assert wanted <= found, f"{name}={value}: ours have {sorted(found)}"
    assert ours


def test_each_target_is_watched_by_one_exporter_and_only_the_daemonset_reads_the_host(resources):
    """Two exporters on one Redis or broker would count its counters twice."""
    seen: dict[str, str] = {}
    for workload, c in exporters(resources):
        flags = settings(c)
        collectors = set(flags["--collectors"].split(","))
        is_daemonset = workload["kind"] == "DaemonSet"
        assert ("system" in collectors) == is_daemonset, workload["metadata"]["name"]
        if collectors & {"redis", "celery", "health"}:
            # Not two at once, not even during a rollout.
            assert workload["spec"]["replicas"] == 1
            assert workload["spec"]["strategy"]["type"] == "Recreate"
        for flag in ("--redis-url", "--broker-url", "--health-url"):
            for target in filter(None, flags.get(flag, "").split(",")):
                where = f"{workload['metadata']['name']}/{c['name']}"
                assert (flag, target) not in seen, (
                    f"{target} watched by {seen[flag, target]} and {where}"
                )
                seen[flag, target] = where


def test_the_daemonset_sees_the_host_as_node_exporter_does(resources):
    (daemonset,) = find(resources, "DaemonSet")
    spec = kustomize.pod_spec(daemonset)
    assert spec["hostPID"] is True and spec["hostNetwork"] is True
    (c,) = spec["containers"]
    flags = settings(c)
    assert flags["--collectors"] == "system"
    volumes = {v["name"]: v["hostPath"]["path"] for v in spec["volumes"]}
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    for flag, host_path in HOST_PATH_FLAGS.items():
        mount = mounts[flags[flag]]
        assert volumes[mount["name"]] == host_path, flag
        assert mount["readOnly"] is True, flag
    assert sorted(flags[f] for f in HOST_PATH_FLAGS) == ["/host/proc", "/host/root", "/host/sys"]
    port = next(p for p in c["ports"] if p["name"] == "exporter")
    assert flags["--listen"].endswith(f":{port['containerPort']}") and port["hostPort"] == 9811


# --- the app's metrics directory --------------------------------------------------------


def test_the_metrics_directory_is_a_sized_memory_emptydir_private_to_the_pod(resources):
    app = one(resources, "Deployment", "app")
    gunicorn = container(app, "app")
    assert "python:django_middleware.gunicorn" in gunicorn["command"]
    directory = env(gunicorn)["PROMETHEUS_MULTIPROC_DIR"]
    (mount,) = [m for m in gunicorn["volumeMounts"] if m["mountPath"] == directory]
    (volume,) = [v for v in kustomize.pod_spec(app)["volumes"] if v["name"] == mount["name"]]
    assert volume["emptyDir"]["medium"] == "Memory"
    size_limit = volume["emptyDir"]["sizeLimit"]
    # The files count in the container's memory: its limit must hold them and more.
    assert parse_quantity(gunicorn["resources"]["limits"]["memory"]) > parse_quantity(size_limit)
    # The figure and its formula are documented where users look.
    assert f"sizeLimit: {size_limit}" in (REPO_ROOT / "docs" / "kubernetes.md").read_text()


def parse_quantity(text: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    return int(text[:-2]) * units[text[-2:]] if text[-2:] in units else int(text)


# --- Prometheus Operator and Grafana ----------------------------------------------------


def job_names() -> set[str]:
    """The jobs prometheus.yml scrapes, which the rules and dashboards aggregate by."""
    config = yaml.safe_load((REPO_ROOT / "prometheus" / "prometheus.yml").read_text())
    return {job["job_name"] for job in config["scrape_configs"]}


def test_the_monitors_scrape_every_target_under_the_job_names_of_prometheus_yml(resources):
    jobs: dict[str, set[str]] = {}  # job -> workloads it scrapes
    (podmonitor,) = find(resources, "PodMonitor")
    for endpoint in podmonitor["spec"]["podMetricsEndpoints"]:
        (job,) = [r["replacement"] for r in endpoint["relabelings"] if r["targetLabel"] == "job"]
        for w in workloads(resources):
            labels = w["spec"]["template"]["metadata"]["labels"]
            ports = {
                p["name"] for c in kustomize.pod_spec(w)["containers"] for p in c.get("ports", [])
            }
            if (
                selects(podmonitor["spec"]["selector"]["matchLabels"], labels)
                and endpoint["port"] in ports
            ):
                jobs.setdefault(job, set()).add(w["metadata"]["name"])
    (servicemonitor,) = find(resources, "ServiceMonitor")
    for service in find(resources, "Service"):
        labels = service["metadata"]["labels"]
        if selects(servicemonitor["spec"]["selector"]["matchLabels"], labels):
            job = labels[servicemonitor["spec"]["jobLabel"]]
            ports = {p["name"] for p in service["spec"]["ports"]}
            assert {e["port"] for e in servicemonitor["spec"]["endpoints"]} <= ports
            jobs.setdefault(job, set()).add(service["metadata"]["name"])
    assert set(jobs) == job_names()
    assert jobs["django"] == {"app"}
    # Every exporter is scraped: the sidecars by the PodMonitor, the rest through a Service.
    exporter_workloads = {w["metadata"]["name"] for w, _ in exporters(resources)}
    scraped = jobs["painel-exporter"]
    assert {"app", "celery"} <= scraped
    assert exporter_workloads <= scraped


def test_kube_prometheus_stack_selects_the_monitors_and_rules(resources):
    for kind in MONITORING:
        for resource in find(resources, kind):
            assert resource["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_generated_files_are_the_generator_output():
    """Changed rules or dashboards: run `python -m deploy.kubernetes.render`."""
    for name, text in render.rendered().items():
        assert (DEPLOY / name).read_text() == text, f"{name} is stale: run the generator"


def test_every_rule_file_and_dashboard_is_deployed(resources):
    rule_files = sorted((REPO_ROOT / "prometheus" / "rules").glob("*.yml"))
    groups = [g for f in rule_files for g in yaml.safe_load(f.read_text())["groups"]]
    deployed = [g for r in find(resources, "PrometheusRule") for g in r["spec"]["groups"]]
    assert deployed == groups
    dashboards = (REPO_ROOT / "grafana" / "dashboards").rglob("*.json")
    uids = sorted(json.loads(p.read_text())["uid"] for p in dashboards)
    deployed_uids = sorted(
        json.loads(text)["uid"] for c in find(resources, "ConfigMap") for text in c["data"].values()
    )
    assert deployed_uids == uids


def test_dashboard_config_maps_are_what_the_grafana_sidecar_loads(resources):
    for config_map in find(resources, "ConfigMap"):
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        # `kubectl apply` keeps the whole object in an annotation of at most 256 KiB.
        assert len(yaml.safe_dump(config_map)) < 256 * 1024, config_map["metadata"]["name"]
