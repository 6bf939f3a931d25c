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
from local_services.paths import REPO_ROOT
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


def _why_no_mount_namespace() -> str:
    """Why this machine cannot give a process mounts of its own; "" when it can."""
    if shutil.which("unshare") is None:
        return "needs unshare"
    if subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode:
        return "cannot make a mount namespace (needs root)"
    return ""


def _why_no_hung_mount() -> str:
    """Why this machine cannot make a private hung FUSE mount; "" when it can."""
    if not os.path.exists("/dev/fuse"):
        return "needs /dev/fuse"
    return _why_no_mount_namespace()


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


def _private_mounts(script: str, where: Path) -> list[str]:
    """An ExporterProcess wrapper: the exporter runs in a mount namespace of its own, after
    `script` (sh, run in `where`) mounts there; the mounts go when the exporter stops."""
    namespace = ["unshare", "--mount", "--propagation", "private"]
    return [*namespace, "sh", "-c", f'cd "$0" && {script} && exec "$@"', str(where)]


def test_bind_mounts_of_one_filesystem_are_one_series(tmp_path):
    """A disk bind-mounted at several places (a container's /etc/hosts, a log volume) is
    one filesystem: one series, at its shortest mount point; two tmpfs are two."""
    why = _why_no_mount_namespace()
    if why:
        pytest.skip(why)
    for name in ("the-original-mount", "b", "c-bound-too", "other"):
        (tmp_path / name).mkdir()
    script = (
        "mount -t tmpfs -o size=1m tmpfs the-original-mount"
        " && mount --bind the-original-mount b && mount --bind the-original-mount c-bound-too"
        " && mount -t tmpfs -o size=2m tmpfs other"
    )
    flags = ["--collectors", "system"]
    wrapper = _private_mounts(script, tmp_path)
    with ExporterProcess(tmp_path, flags, name="exporter-bind", wrapper=wrapper) as exporter:
        scrape = exporter.scrape()
    ours = {
        labels["mountpoint"]: (labels["device"], size)
        for labels, size in scrape.samples("node_filesystem_size_bytes")
        if labels["mountpoint"].startswith(str(tmp_path))
    }
    assert ours == {
        str(tmp_path / "b"): ("tmpfs", 1024 * 1024),
        str(tmp_path / "other"): ("tmpfs", 2 * 1024 * 1024),
    }


def test_reads_the_host_through_path_flags(tmp_path):
    """node_exporter's --path.procfs, --path.sysfs and --path.rootfs: everything from the
    trees given, mount points from the host's table named without the rootfs prefix."""
    proc, sys_, root = tmp_path / "proc", tmp_path / "sys", tmp_path / "root"
    for name in ("stat", "vmstat", "diskstats", "net/dev", "sys/fs/file-nr"):
        (proc / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path("/proc") / name, proc / name)
    (proc / "meminfo").write_text("MemTotal:        1234 kB\nHugePages_Total:       0\n")
    (proc / "loadavg").write_text("1.50 2.50 3.50 1/100 4321\n")
    for mountpoint in ("data", "var/log/app", "srv/my files", "backup", "etc"):
        (root / mountpoint).mkdir(parents=True)
    (root / "etc/hosts").touch()
    (proc / "1").mkdir()
    (proc / "1/mountinfo").write_text(
        "1 0 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
        "2 1 8:1 /var/lib/app/log /var/log/app rw - ext4 /dev/sda1 rw\n"
        "3 1 8:1 /etc/hosts /etc/hosts rw - ext4 /dev/sda1 rw\n"
        "4 1 8:2 / /data ro,relatime - xfs /dev/sdb rw\n"
        "5 1 0:22 / /sys rw - sysfs sysfs rw\n"
        "6 1 0:50 / /srv/my\\040files rw shared:1 - tmpfs tmpfs rw\n"
        f"7 1 8:3 / {root}/backup rw - ext4 /dev/sdc rw\n"  # a container's own table
    )
    nic = sys_ / "class/net/eth9"
    nic.mkdir(parents=True)
    (nic / "operstate").write_text("up\n")
    (nic / "mtu").write_text("9000\n")
    flags = ["--collectors", "system"]
    flags += ["--path.procfs", str(proc), "--path.sysfs", str(sys_), "--path.rootfs", str(root)]
    with ExporterProcess(tmp_path, flags, name="exporter-paths") as exporter:
        scrape = exporter.scrape()
    assert scrape.value("painel_exporter_collector_success", collector="system") == 1
    assert scrape.value("node_memory_MemTotal_bytes") == 1234 * 1024
    assert [scrape.value(f"node_load{m}") for m in (1, 5, 15)] == [1.5, 2.5, 3.5]
    assert [labels for labels, _ in scrape.samples("node_network_up")] == [{"device": "eth9"}]
    assert scrape.value("node_network_mtu_bytes", device="eth9") == 9000
    assert scrape.samples("node_cpu_seconds_total")
    disk = os.statvfs(tmp_path)
    filesystems = {
        (labels["device"], labels["mountpoint"], labels["fstype"]): size
        for labels, size in scrape.samples("node_filesystem_size_bytes")
    }
    assert filesystems == {
        (device, mountpoint, fstype): disk.f_blocks * disk.f_frsize
        for device, mountpoint, fstype in [
            ("/dev/sda1", "/", "ext4"),
            ("/dev/sdb", "/data", "xfs"),
            ("tmpfs", "/srv/my files", "tmpfs"),
            ("/dev/sdc", "/backup", "ext4"),
        ]
    }
    assert scrape.value("node_filesystem_readonly", mountpoint="/data") == 1
    assert scrape.value("node_filesystem_readonly", mountpoint="/") == 0


@pytest.mark.parametrize("flag", ["--path.procfs", "--path.sysfs", "--path.rootfs"])
def test_a_missing_host_directory_stops_the_start(flag, tmp_path):
    answer = subprocess.run(
        [sys.executable, "-m", "exporter", "--collectors", "system", flag, str(tmp_path / "no")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert answer.returncode != 0
    assert f"{flag} {tmp_path / 'no'}: no such directory" in answer.stderr
