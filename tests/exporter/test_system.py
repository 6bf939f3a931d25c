"""The system collector: node_exporter's names, labels, types and values on this host."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from local_services.exporter import ExporterProcess
from local_services.node_exporter import NodeExporterProcess, node_exporter_binary
from tests.support.documented import undocumented

# family -> (type, label names of every series), as node_exporter publishes them
FAMILIES = {
    "node_cpu_seconds": ("counter", {"cpu", "mode"}),
    "node_load1": ("gauge", set()),
    "node_load5": ("gauge", set()),
    "node_load15": ("gauge", set()),
    "node_memory_MemTotal_bytes": ("gauge", set()),
    "node_memory_MemAvailable_bytes": ("gauge", set()),
    "node_memory_SwapTotal_bytes": ("gauge", set()),
    "node_memory_SwapFree_bytes": ("gauge", set()),
    "node_filesystem_size_bytes": ("gauge", {"device", "mountpoint", "fstype"}),
    "node_filesystem_avail_bytes": ("gauge", {"device", "mountpoint", "fstype"}),
    "node_filesystem_free_bytes": ("gauge", {"device", "mountpoint", "fstype"}),
    "node_disk_read_bytes": ("counter", {"device"}),
    "node_disk_written_bytes": ("counter", {"device"}),
    "node_network_receive_bytes": ("counter", {"device"}),
    "node_network_transmit_bytes": ("counter", {"device"}),
    "node_boot_time_seconds": ("gauge", set()),
}
COUNTERS = [
    "node_cpu_seconds_total",
    "node_disk_read_bytes_total",
    "node_disk_written_bytes_total",
    "node_network_receive_bytes_total",
    "node_network_transmit_bytes_total",
]


@pytest.fixture(scope="module")
def exporter(tmp_path_factory):
    with ExporterProcess(tmp_path_factory.mktemp("system"), ["--collectors", "system"]) as e:
        yield e


def _series(scrape, name):
    return {tuple(sorted(labels.items())): value for labels, value in scrape.samples(name)}


def test_publishes_node_exporter_names_labels_and_types(exporter):
    scrape = exporter.scrape()
    for family, (kind, labels) in FAMILIES.items():
        assert scrape.type_of(family) == kind, family
        samples = scrape.families[family].samples
        assert samples, f"{family} has no series"
        assert all(set(s.labels) == labels for s in samples), family
    cpus = {labels["cpu"] for labels, _ in scrape.samples("node_cpu_seconds_total")}
    assert cpus == {str(n) for n in range(len(cpus))}
    modes = {labels["mode"] for labels, _ in scrape.samples("node_cpu_seconds_total")}
    assert {"user", "system", "idle", "iowait"} <= modes
    assert scrape.value("node_filesystem_size_bytes", mountpoint="/") > 0
    fstypes = {labels["fstype"] for labels, _ in scrape.samples("node_filesystem_size_bytes")}
    assert not fstypes & {"proc", "sysfs", "cgroup", "cgroup2", "devpts", "overlay"}
    assert scrape.value("painel_exporter_collector_success", collector="system") == 1
    assert undocumented(scrape, ("node_",)) == []


def test_agrees_with_debians_node_exporter(exporter, tmp_path):
    binary, missing = node_exporter_binary()
    if binary is None:
        pytest.skip(missing)
    with NodeExporterProcess(binary, tmp_path) as node_exporter:
        before = exporter.scrape()
        theirs = node_exporter.scrape()
        after = exporter.scrape()

    for family in FAMILIES:
        assert theirs.type_of(family) == before.type_of(family), family
        for name in {s.name for s in theirs.families[family].samples}:
            assert _series(theirs, name).keys() == _series(before, name).keys(), name

    # counters: node_exporter's reading lies between our two readings around it. A CPU's
    # idle and iowait are each allowed to go back (the kernel splits an idle period between
    # them when read, see "iowait" in the kernel's proc.rst), so they are compared summed.
    for name in COUNTERS:
        low, mid, high = (_idle_summed(_series(s, name)) for s in (before, theirs, after))
        for key, value in mid.items():
            assert low[key] <= value <= high[key], (name, key, low[key], value, high[key])

    def same(name, tolerance=0.0, **labels):
        ours, their = after.value(name, **labels), theirs.value(name, **labels)
        assert abs(ours - their) <= tolerance, (name, labels, ours, their)

    same("node_boot_time_seconds", tolerance=1)
    same("node_memory_MemTotal_bytes")
    same("node_memory_SwapTotal_bytes")
    memory = after.value("node_memory_MemTotal_bytes")
    same("node_memory_MemAvailable_bytes", tolerance=0.02 * memory)
    same("node_memory_SwapFree_bytes", tolerance=0.02 * memory)
    for minutes in (1, 5, 15):
        same(f"node_load{minutes}", tolerance=1.0)  # the kernel's figure moves every 5 s
    for labels, size in theirs.samples("node_filesystem_size_bytes"):
        same("node_filesystem_size_bytes", **labels)
        for name in ("node_filesystem_avail_bytes", "node_filesystem_free_bytes"):
            same(name, tolerance=0.01 * size, **labels)  # other tests write files meanwhile


def _idle_summed(series: dict) -> dict:
    """node_cpu_seconds_total's idle and iowait of each CPU as one "idle+iowait" series."""
    summed: dict = {}
    for key, value in series.items():
        labels = dict(key)
        if labels.get("mode") in ("idle", "iowait"):
            key = tuple(sorted({**labels, "mode": "idle+iowait"}.items()))
        summed[key] = summed.get(key, 0.0) + value
    return summed


HUNG_FUSE = Path(__file__).with_name("hung_fuse.py")


def _why_no_hung_mount() -> str:
    """Why this machine cannot make a private hung FUSE mount; "" when it can."""
    if not os.path.exists("/dev/fuse") or shutil.which("unshare") is None:
        return "needs /dev/fuse and unshare"
    if subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode:
        return "cannot make a mount namespace (needs root)"
    return ""


def test_hung_filesystems_are_skipped_and_the_others_still_reported(exporter, tmp_path):
    why = _why_no_hung_mount()
    if why:
        pytest.skip(why)
    expected = {
        labels["mountpoint"]
        for labels, _ in exporter.scrape().samples("node_filesystem_size_bytes")
    }
    # more hung mounts than the collector has statvfs threads, seen by this exporter alone
    hung = [str(tmp_path / f"hung{n}") for n in range(5)]
    wrapper = ["unshare", "--mount", "--propagation", "private"]
    wrapper += [sys.executable, str(HUNG_FUSE), *hung, "--"]
    flags = ["--collectors", "system"]
    with ExporterProcess(tmp_path, flags, name="exporter-hung-fs", wrapper=wrapper) as beside:
        for _ in range(4):
            started = time.monotonic()
            scrape = beside.scrape()
            assert time.monotonic() - started < 1.0
            assert scrape.value("painel_exporter_collector_success", collector="system") == 1
            samples = scrape.samples("node_filesystem_size_bytes")
            assert {labels["mountpoint"] for labels, _ in samples} == expected
        assert f"filesystem {hung[0]} is stuck" in beside.log()
