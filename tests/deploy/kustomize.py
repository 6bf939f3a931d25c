"""What `kubectl kustomize` makes of deploy/kubernetes/, for the subset of kustomize it uses.

kustomize itself (built into kubectl) is not on every machine the suite runs on: this reads
the kustomization the same way for the fields deploy/kubernetes uses (resources, namespace,
images) and refuses any other, so a new field needs support here first. Where kubectl is
installed, a test holds this output equal to kustomize's.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

SUPPORTED = {"apiVersion", "kind", "namespace", "resources", "images"}
CLUSTER_SCOPED = {"Namespace"}


def build(directory: Path) -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unsupported = set(kustomization) - SUPPORTED
    if unsupported:
        raise ValueError(f"kustomization fields this loader does not apply: {sorted(unsupported)}")
    resources = [
        document
        for name in kustomization.get("resources", [])
        for document in yaml.safe_load_all((directory / name).read_text())
        if document is not None
    ]
    namespace = kustomization.get("namespace")
    for resource in resources:
        if namespace is None:
            break
        if resource["kind"] == "Namespace":
            resource["metadata"]["name"] = namespace  # as kustomize renames it
        elif resource["kind"] not in CLUSTER_SCOPED:
            resource["metadata"]["namespace"] = namespace
    for image in kustomization.get("images", []):
        for container in containers(resources):
            if image_name(container["image"]) == image["name"]:
                tag = image.get("newTag") or image_tag(container["image"])
                container["image"] = image.get("newName", image["name"]) + (
                    f":{tag}" if tag else ""
                )
    return resources


def containers(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every container and init container of every workload's pod template."""
    return [
        container
        for resource in resources
        for key in ("containers", "initContainers")
        for container in pod_spec(resource).get(key, [])
    ]


def pod_spec(resource: dict[str, Any]) -> dict[str, Any]:
    return resource.get("spec", {}).get("template", {}).get("spec", {})


def image_name(image: str) -> str:
    return re.sub(r"(:[^/:]+)?(@.*)?$", "", image)


def image_tag(image: str) -> str | None:
    match = re.search(r":([^/:@]+)(@.*)?$", image)
    return match[1] if match else None
