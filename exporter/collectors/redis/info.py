"""INFO ALL (and the few CONFIG values redis_exporter reads) turned into metric families,
by redis_exporter 1.45's rules, so its dashboards and the redis-mixin read the same series.

The rules, as redis_exporter applies them: a field of its gauge or counter map is published
under the mapped name (counters typed as such); `ok`/`true` read 1 and `err`/`fail`/`false`
read 0; any `cluster_*` field is a gauge of its own name; `latest_fork_usec` becomes
seconds; each `dbN` line gives keys, expiring keys and the average TTL, and every database
up to the `databases` setting reads 0 when empty; `cmdstat_*`, `errorstat_*`, the
replication lines and the instance's identity get their labelled families. Every series
here also carries `addr`, since one painel exporter watches several servers.
"""

from __future__ import annotations

import re
import time
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

# INFO field -> metric name without `redis_` (redis_exporter 1.45's metricMapGauges)
GAUGES = {
    # Server
    "uptime_in_seconds": "uptime_in_seconds",
    "process_id": "process_id",
    "io_threads_active": "io_threads_active",
    # Clients
    "connected_clients": "connected_clients",
    "blocked_clients": "blocked_clients",
    "tracking_clients": "tracking_clients",
    "clients_in_timeout_table": "clients_in_timeout_table",
    "client_longest_output_list": "client_longest_output_list",  # Redis before 5
    "client_biggest_input_buf": "client_biggest_input_buf",
    "client_recent_max_output_buffer": "client_recent_max_output_buffer_bytes",
    "client_recent_max_input_buffer": "client_recent_max_input_buffer_bytes",
    # Memory
    "allocator_active": "allocator_active_bytes",
    "allocator_allocated": "allocator_allocated_bytes",
    "allocator_resident": "allocator_resident_bytes",
    "allocator_frag_ratio": "allocator_frag_ratio",
    "allocator_frag_bytes": "allocator_frag_bytes",
    "allocator_rss_ratio": "allocator_rss_ratio",
    "allocator_rss_bytes": "allocator_rss_bytes",
    "used_memory": "memory_used_bytes",
    "used_memory_rss": "memory_used_rss_bytes",
    "used_memory_peak": "memory_used_peak_bytes",
    "used_memory_lua": "memory_used_lua_bytes",
    "used_memory_overhead": "memory_used_overhead_bytes",
    "used_memory_startup": "memory_used_startup_bytes",
    "used_memory_dataset": "memory_used_dataset_bytes",
    "used_memory_scripts": "memory_used_scripts_bytes",
    "number_of_cached_scripts": "number_of_cached_scripts",
    "maxmemory": "memory_max_bytes",
    "mem_fragmentation_ratio": "mem_fragmentation_ratio",
    "mem_fragmentation_bytes": "mem_fragmentation_bytes",
    "mem_clients_slaves": "mem_clients_slaves",
    "mem_clients_normal": "mem_clients_normal",
    "expired_stale_perc": "expired_stale_percentage",
    "mem_not_counted_for_evict": "mem_not_counted_for_eviction_bytes",
    "lazyfree_pending_objects": "lazyfree_pending_objects",
    "active_defrag_running": "active_defrag_running",
    "migrate_cached_sockets": "migrate_cached_sockets_total",
    "active_defrag_hits": "defrag_hits",
    "active_defrag_misses": "defrag_misses",
    "active_defrag_key_hits": "defrag_key_hits",
    "active_defrag_key_misses": "defrag_key_misses",
    "expired_time_cap_reached_count": "expired_time_cap_reached_total",
    # Persistence
    "loading": "loading_dump_file",
    "rdb_changes_since_last_save": "rdb_changes_since_last_save",
    "rdb_bgsave_in_progress": "rdb_bgsave_in_progress",
    "rdb_last_save_time": "rdb_last_save_timestamp_seconds",
    "rdb_last_bgsave_status": "rdb_last_bgsave_status",
    "rdb_last_bgsave_time_sec": "rdb_last_bgsave_duration_sec",
    "rdb_current_bgsave_time_sec": "rdb_current_bgsave_duration_sec",
    "rdb_last_cow_size": "rdb_last_cow_size_bytes",
    "aof_enabled": "aof_enabled",
    "aof_rewrite_in_progress": "aof_rewrite_in_progress",
    "aof_rewrite_scheduled": "aof_rewrite_scheduled",
    "aof_last_rewrite_time_sec": "aof_last_rewrite_duration_sec",
    "aof_current_rewrite_time_sec": "aof_current_rewrite_duration_sec",
    "aof_last_cow_size": "aof_last_cow_size_bytes",
    "aof_current_size": "aof_current_size_bytes",
    "aof_base_size": "aof_base_size_bytes",
    "aof_pending_rewrite": "aof_pending_rewrite",
    "aof_buffer_length": "aof_buffer_length",
    "aof_rewrite_buffer_length": "aof_rewrite_buffer_length",
    "aof_pending_bio_fsync": "aof_pending_bio_fsync",
    "aof_delayed_fsync": "aof_delayed_fsync",
    "aof_last_bgrewrite_status": "aof_last_bgrewrite_status",
    "aof_last_write_status": "aof_last_write_status",
    "module_fork_in_progress": "module_fork_in_progress",
    "module_fork_last_cow_size": "module_fork_last_cow_size",
    # Stats
    "pubsub_channels": "pubsub_channels",
    "pubsub_patterns": "pubsub_patterns",
    "latest_fork_usec": "latest_fork_seconds",  # divided by 1e6 below
    "tracking_total_keys": "tracking_total_keys",
    "tracking_total_items": "tracking_total_items",
    "tracking_total_prefixes": "tracking_total_prefixes",
    # Replication
    "connected_slaves": "connected_slaves",
    "repl_backlog_size": "replication_backlog_bytes",
    "repl_backlog_active": "repl_backlog_is_active",
    "repl_backlog_first_byte_offset": "repl_backlog_first_byte_offset",
    "repl_backlog_histlen": "repl_backlog_history_bytes",
    "master_repl_offset": "master_repl_offset",
    "second_repl_offset": "second_repl_offset",
    "slave_expires_tracked_keys": "slave_expires_tracked_keys",
    "slave_priority": "slave_priority",
    "sync_full": "replica_resyncs_full",
    "sync_partial_ok": "replica_partial_resync_accepted",
    "sync_partial_err": "replica_partial_resync_denied",
    # Cluster
    "cluster_stats_messages_sent": "cluster_messages_sent_total",
    "cluster_stats_messages_received": "cluster_messages_received_total",
}
# INFO field -> metric name without `redis_` (redis_exporter 1.45's metricMapCounters)
COUNTERS = {
    "total_connections_received": "connections_received_total",
    "total_commands_processed": "commands_processed_total",
    "rejected_connections": "rejected_connections_total",
    "total_net_input_bytes": "net_input_bytes_total",
    "total_net_output_bytes": "net_output_bytes_total",
    "expired_keys": "expired_keys_total",
    "evicted_keys": "evicted_keys_total",
    "keyspace_hits": "keyspace_hits_total",
    "keyspace_misses": "keyspace_misses_total",
    "used_cpu_sys": "cpu_sys_seconds_total",
    "used_cpu_user": "cpu_user_seconds_total",
    "used_cpu_sys_children": "cpu_sys_children_seconds_total",
    "used_cpu_user_children": "cpu_user_children_seconds_total",
    "used_cpu_sys_main_thread": "cpu_sys_main_thread_seconds_total",
    "used_cpu_user_main_thread": "cpu_user_main_thread_seconds_total",
    # redis_exporter 1.45 types these as counters without the _total suffix
    "unexpected_error_replies": "unexpected_error_replies",
    "total_error_replies": "total_error_replies",
    "total_reads_processed": "total_reads_processed",
    "total_writes_processed": "total_writes_processed",
    "io_threaded_reads_processed": "io_threaded_reads_processed",
    "io_threaded_writes_processed": "io_threaded_writes_processed",
    "dump_payload_sanitizations": "dump_payload_sanitizations",
}
# CONFIG GET parameters published as redis_config_<name> (io-threads as io_threads)
CONFIG_GAUGES = ("maxclients", "maxmemory", "io-threads")
DEFAULT_DATABASES = 16  # Redis's own default, used when CONFIG GET is refused

INSTANCE_LABELS = [
    "role",
    "redis_version",
    "redis_build_id",
    "redis_mode",
    "os",
    "maxmemory_policy",
    "tcp_port",
    "run_id",
    "process_id",
]
_SLAVE = re.compile(r"^slave\d+$")
_MASTER_LINK = re.compile(r"^master(_[0-9]+)?_link_status$")
_MASTER_DIRECT = re.compile(
    r"^(master(_[0-9]+)?_(last_io_seconds_ago|sync_in_progress)|slave_repl_offset)"
)


def number(value: Any) -> float | None:
    """redis_exporter's reading of a field: ok/true 1, err/fail/false 0, else the number."""
    if isinstance(value, str):
        if value in ("ok", "true"):
            return 1.0
        if value in ("err", "fail", "false"):
            return 0.0
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class InfoFamilies:
    """The redis_* families of one scrape, filled server by server."""

    def __init__(self) -> None:
        self._families: dict[str, Metric] = {}

    def _family(self, name: str, counter: bool, labels: tuple[str, ...] = ()) -> Metric:
        if name not in self._families:
            labelnames = ["addr", *labels]
            help_ = f"{name}, read from INFO as redis_exporter reads it."
            if counter:
                family = CounterMetricFamily(name, help_, labels=labelnames)
            else:
                family = GaugeMetricFamily(name, help_, labels=labelnames)
            self._families[name] = family
        return self._families[name]

    def gauge(self, name: str, addr: str, value: float, **labels: str) -> None:
        family = self._family(f"redis_{name}", False, tuple(labels))
        family.add_metric([addr, *labels.values()], value)

    def counter(self, name: str, addr: str, value: float, **labels: str) -> None:
        family = self._family(f"redis_{name.removesuffix('_total')}", True, tuple(labels))
        family.add_metric([addr, *labels.values()], value)

    def add(self, addr: str, info: dict[str, Any], config: dict[str, str]) -> None:
        master = {
            "master_host": str(info.get("master_host", "")),
            "master_port": str(info.get("master_port", "")),
        }
        for key, value in info.items():
            if self._replication(addr, key, value, master):
                continue
            if key in COUNTERS:
                if (parsed := number(value)) is not None:
                    self.counter(COUNTERS[key], addr, parsed)
            elif key in GAUGES or key.startswith("cluster_"):
                parsed = number(value)
                if parsed is not None:
                    if key == "latest_fork_usec":
                        parsed /= 1e6
                    self.gauge(GAUGES.get(key, key), addr, parsed)
            elif key.startswith("cmdstat_") and isinstance(value, dict):
                self._command(addr, key.removeprefix("cmdstat_"), value)
            elif key.startswith("errorstat_") and isinstance(value, dict):
                err = key.removeprefix("errorstat_")
                self.counter("errors_total", addr, float(value.get("count", 0)), err=err)
        if "uptime_in_seconds" in info:
            started = time.time() - float(info["uptime_in_seconds"])
            self.gauge("start_time_seconds", addr, float(int(started)))
        self._keyspace(addr, info, config)
        for key in CONFIG_GAUGES:
            if (parsed := number(config.get(key))) is not None:
                self.gauge(f"config_{key.replace('-', '_')}", addr, parsed)
        # painel's own: whether a full Redis evicts (a cache) or refuses writes
        if "maxmemory_policy" in info:
            policy = str(info["maxmemory_policy"])
            self.gauge("maxmemory_policy_info", addr, 1.0, policy=policy)
        identity = {label: str(info.get(label, "")) for label in INSTANCE_LABELS}
        self.gauge("instance_info", addr, 1.0, **identity)
        if info.get("role") == "slave":
            read_only = str(info.get("slave_read_only", ""))
            self.gauge("slave_info", addr, 1.0, **master, read_only=read_only)

    def _keyspace(self, addr: str, info: dict[str, Any], config: dict[str, str]) -> None:
        databases = int(number(config.get("databases")) or DEFAULT_DATABASES)
        if info.get("cluster_enabled") == 1:
            databases = 1  # a cluster node has db0 only
        seen = set()
        for key, stats in info.items():
            if not (key.startswith("db") and key[2:].isdigit() and isinstance(stats, dict)):
                continue
            seen.add(key)
            self.gauge("db_keys", addr, float(stats.get("keys", 0)), db=key)
            self.gauge("db_keys_expiring", addr, float(stats.get("expires", 0)), db=key)
            if "avg_ttl" in stats:  # milliseconds in INFO
                self.gauge("db_avg_ttl_seconds", addr, stats["avg_ttl"] / 1000, db=key)
        for index in range(databases):
            if f"db{index}" not in seen:
                self.gauge("db_keys", addr, 0.0, db=f"db{index}")
                self.gauge("db_keys_expiring", addr, 0.0, db=f"db{index}")

    def _command(self, addr: str, cmd: str, stats: dict[str, Any]) -> None:
        self.counter("commands_total", addr, float(stats.get("calls", 0)), cmd=cmd)
        seconds = float(stats.get("usec", 0)) / 1e6
        self.counter("commands_duration_seconds_total", addr, seconds, cmd=cmd)
        if "rejected_calls" in stats:  # Redis 6.2+
            rejected = float(stats["rejected_calls"])
            self.counter("commands_rejected_calls_total", addr, rejected, cmd=cmd)
            failed = float(stats.get("failed_calls", 0))
            self.counter("commands_failed_calls_total", addr, failed, cmd=cmd)

    def _replication(self, addr: str, key: str, value: Any, master: dict[str, str]) -> bool:
        """The labelled replication lines; True when `key` was one of them."""
        if _MASTER_LINK.match(key):
            self.gauge("master_link_up", addr, 1.0 if value == "up" else 0.0, **master)
        elif _MASTER_DIRECT.match(key):
            self.gauge(_direct_name(key), addr, number(value) or 0.0, **master)
        elif _SLAVE.match(key) and isinstance(value, dict) and "offset" in value:
            replica = {
                "slave_ip": str(value.get("ip", "")),
                "slave_port": str(value.get("port", "")),
                "slave_state": str(value.get("state", "")),
            }
            self.gauge("connected_slave_offset_bytes", addr, float(value["offset"]), **replica)
            if "lag" in value:
                self.gauge("connected_slave_lag_seconds", addr, float(value["lag"]), **replica)
        else:
            return False
        return True

    def all(self) -> list[Metric]:
        return list(self._families.values())


def _direct_name(key: str) -> str:
    if key.endswith("last_io_seconds_ago"):
        return "master_last_io_seconds_ago"
    if key.endswith("sync_in_progress"):
        return "master_sync_in_progress"
    return key
