"""What painel publishes under node_exporter's and redis_exporter's names is what they
publish: the real exporters (Debian's packages) beside painel's, on the same host and the
same redis-server, every family compared by type, label names and series."""

from __future__ import annotations

import pytest

from local_services.exporter import ExporterProcess
from local_services.node_exporter import NodeExporterProcess, node_exporter_binary
from local_services.redis_exporter import RedisExporterProcess, redis_exporter_binary

# What the community dashboards and mixins read that painel must publish (the list)
REQUIRED_NODE = [
    "node_uname_info",
    "node_memory_MemTotal_bytes",
    "node_memory_MemFree_bytes",
    "node_memory_Buffers_bytes",
    "node_memory_Cached_bytes",
    "node_filesystem_readonly",
    "node_filesystem_files",
    "node_filesystem_files_free",
    "node_disk_reads_completed_total",
    "node_disk_writes_completed_total",
    "node_disk_read_time_seconds_total",
    "node_disk_write_time_seconds_total",
    "node_disk_io_time_seconds_total",
    "node_disk_io_time_weighted_seconds_total",
    "node_network_receive_packets_total",
    "node_network_transmit_packets_total",
    "node_network_receive_errs_total",
    "node_network_transmit_errs_total",
    "node_network_receive_drop_total",
    "node_network_transmit_drop_total",
    "node_network_speed_bytes",
    "node_network_up",
    "node_time_seconds",
    "node_timex_offset_seconds",
    "node_timex_sync_status",
    "node_timex_maxerror_seconds",
    "node_filefd_allocated",
    "node_filefd_maximum",
    "node_vmstat_pgfault",
    "node_vmstat_pgmajfault",
    "node_vmstat_pswpin",
    "node_vmstat_pswpout",
    "node_procs_running",
    "node_procs_blocked",
    "node_context_switches_total",
    "node_intr_total",
    "node_forks_total",
]
OPTIONAL_NODE = {  # published where the kernel has them
    "/proc/pressure/cpu": ["node_pressure_cpu_waiting_seconds_total"],
    "/proc/sys/net/netfilter/nf_conntrack_count": ["node_nf_conntrack_entries"],
}
REQUIRED_REDIS = [
    "redis_db_keys",
    "redis_db_keys_expiring",
    "redis_blocked_clients",
    "redis_net_input_bytes_total",
    "redis_net_output_bytes_total",
    "redis_memory_used_rss_bytes",
    "redis_connected_slaves",
    "redis_instance_info",
    "redis_config_maxclients",
    "redis_start_time_seconds",
]
PAINEL_ONLY = {
    "redis_latency_seconds",
    "redis_maxmemory_policy_info",
}  # painel's own, documented as such
# series whose label values move between two scrapes: a command called in between
MOVING = {"redis_commands", "redis_commands_duration_seconds"}
MOVING |= {"redis_commands_failed_calls", "redis_commands_rejected_calls"}


@pytest.fixture(scope="module")
def scrapes(tmp_path_factory, shared_redis):
    node_binary, missing = node_exporter_binary()
    redis_binary = redis_exporter_binary()
    if node_binary is None or redis_binary is None:
        pytest.skip(missing or "prometheus-redis-exporter is missing: run scripts/bootstrap.sh")
    workdir = tmp_path_factory.mktemp("peers")
    client = shared_redis.client()
    client.set("painel:compat:plain", "1")
    client.set("painel:compat:expiring", "1", ex=3600)
    shared_redis.client(db=3).set("painel:compat:db3", "1")
    flags = ["--collectors", "system,redis", "--redis-url", shared_redis.url]
    with (
        ExporterProcess(workdir, flags) as ours,
        NodeExporterProcess(node_binary, workdir, all_collectors=True) as node,
        RedisExporterProcess(redis_binary, workdir, shared_redis.addr) as redis_exporter,
    ):
        ours.scrape()  # a first scrape, so both sides have seen the same commands
        redis_exporter.scrape()
        yield ours.scrape(), node.scrape(), redis_exporter.scrape()


def _series(family, without=()):
    return {
        (s.name, tuple(sorted((k, v) for k, v in s.labels.items() if k not in without)))
        for s in family.samples
    }


def _label_names(family, without=()):
    return {frozenset(set(s.labels) - set(without)) for s in family.samples}


@pytest.mark.parametrize("prefix", ["node_", "redis_"])
def test_every_family_painel_publishes_is_theirs(scrapes, prefix):
    ours, node, redis_exporter = scrapes
    theirs = node if prefix == "node_" else redis_exporter
    without = ("addr",) if prefix == "redis_" else ()
    problems = []
    for name, family in sorted(ours.families.items()):
        if not name.startswith(prefix) or name in PAINEL_ONLY:
            continue
        their = theirs.families.get(name)
        if their is None:
            problems.append(f"{name}: not published by the real exporter")
        elif their.type != family.type:
            problems.append(f"{name}: {family.type}, theirs {their.type}")
        elif _label_names(family, without) != _label_names(their, without):
            problems.append(
                f"{name}: labels {_label_names(family, without)}, theirs "
                f"{_label_names(their, without)}"
            )
        elif name not in MOVING and _series(family, without) != _series(their, without):
            ours_only = sorted(_series(family, without) - _series(their, without))[:3]
            theirs_only = sorted(_series(their, without) - _series(family, without))[:3]
            problems.append(f"{name}: only ours {ours_only}, only theirs {theirs_only}")
    assert problems == []


def test_the_series_dashboards_read_are_published(scrapes):
    ours, _, _ = scrapes
    required = [*REQUIRED_NODE, *REQUIRED_REDIS]
    for path, names in OPTIONAL_NODE.items():
        if _readable(path):
            required += names
    assert [name for name in required if not ours.samples(name)] == []
    assert all(set(labels) >= {"addr"} for labels, _ in ours.samples("redis_db_keys"))
    databases = {labels["db"] for labels, _ in ours.samples("redis_db_keys")}
    assert databases == {f"db{n}" for n in range(16)}  # every configured database


def test_stable_values_agree_within_ten_percent(scrapes):
    ours, node, redis_exporter = scrapes
    checks = [
        (node, "node_memory_MemTotal_bytes", {}),
        (node, "node_memory_MemAvailable_bytes", {}),
        (node, "node_filesystem_size_bytes", {"mountpoint": "/"}),
        (node, "node_filesystem_files", {"mountpoint": "/"}),
        (node, "node_filefd_maximum", {}),
        (node, "node_time_seconds", {}),
        (node, "node_timex_tick_seconds", {}),
        (redis_exporter, "redis_db_keys", {"db": "db0"}),
        (redis_exporter, "redis_db_keys", {"db": "db3"}),
        (redis_exporter, "redis_db_keys_expiring", {"db": "db0"}),
        (redis_exporter, "redis_memory_used_rss_bytes", {}),
        (redis_exporter, "redis_config_maxclients", {}),
        (redis_exporter, "redis_connected_slaves", {}),
    ]
    for theirs, name, labels in checks:
        mine = [v for _, v in ours.samples(name, **labels)]
        their = [v for _, v in theirs.samples(name, **labels)]
        assert len(mine) == len(their) == 1, (name, labels, mine, their)
        assert abs(mine[0] - their[0]) <= 0.1 * abs(their[0]), (name, labels, mine, their)


def _readable(path: str) -> bool:
    try:
        with open(path) as file:
            file.read()
    except OSError:
        return False
    return True
