"""Redis and Celery: whether the cache and the task queue keep up."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from grafana.generator.panels import (
    exporter,
    label_variable,
    new_dashboard,
    one_zero_mappings,
    query,
    range_total,
    ranked,
    stat_panel,
    thresholds,
    time_series,
)

UID = "painel-redis-celery"
ADDR = 'addr=~"$addr"'
QUEUE = 'queue_name=~"$queue"'


def rate(metric: str, selector: str) -> str:
    return f"rate({metric}{{{exporter(selector)}}}[$__rate_interval])"


def hit_rate() -> dashboard.Panel:
    # The ratio of summed rates: an average of per-database ratios would weigh an idle
    # database like a busy one.
    hits = f"sum by (addr) ({rate('redis_keyspace_hits_total', ADDR)})"
    misses = f"sum by (addr) ({rate('redis_keyspace_misses_total', ADDR)})"
    return time_series(
        "Keyspace hit rate",
        "Share of key lookups that found their key: hits / (hits + misses), summed over "
        "databases before dividing.",
        "percentunit",
        [query(f"{hits} / ({hits} + {misses})", "{{addr}}")],
        max_value=1,
        threshold_lines=thresholds((None, "red"), (0.8, "transparent")),
        width=8,
    )


def memory() -> dashboard.Panel:
    return time_series(
        "Memory used and maxmemory",
        "Memory Redis uses against its maxmemory (0: no limit); the RedisMemoryHigh alert "
        "fires at 80% of maxmemory.",
        "bytes",
        [
            query(f"redis_memory_used_bytes{{{exporter(ADDR)}}}", "used {{addr}}"),
            query(f"redis_memory_max_bytes{{{exporter(ADDR)}}} > 0", "maxmemory {{addr}}"),
        ],
        width=8,
    )


def commands() -> dashboard.Panel:
    return time_series(
        "Commands per second",
        "Commands Redis processed per second, and the 5 commands it ran most over the "
        "selected time range.",
        "ops",
        [
            query(
                f"sum by (addr) ({rate('redis_commands_processed_total', ADDR)})", "all {{addr}}"
            ),
            query(
                ranked(
                    5,
                    "cmd",
                    f"sum by (cmd) ({rate('redis_commands_total', ADDR)})",
                    range_total(f"redis_commands_total{{{exporter(ADDR)}}}", "cmd"),
                ),
                "{{cmd}}",
            ),
        ],
        width=8,
    )


def latency() -> dashboard.Panel:
    return time_series(
        "PING round trip",
        "How long a PING from the exporter took to come back, at each scrape: the network "
        "and Redis's own queue together.",
        "s",
        [query(f"redis_latency_seconds{{{exporter(ADDR)}}}", "{{addr}}")],
        width=8,
    )


def clients() -> dashboard.Panel:
    return time_series(
        "Connected clients",
        "Client connections open on Redis.",
        "short",
        [query(f"redis_connected_clients{{{exporter(ADDR)}}}", "{{addr}}")],
        width=8,
    )


def evictions() -> dashboard.Panel:
    return time_series(
        "Evicted and expired keys",
        "Keys evicted to stay under maxmemory, and keys that expired, per second.",
        "cps",
        [
            query(f"sum by (addr) ({rate('redis_evicted_keys_total', ADDR)})", "evicted {{addr}}"),
            query(f"sum by (addr) ({rate('redis_expired_keys_total', ADDR)})", "expired {{addr}}"),
        ],
        width=8,
    )


def redis_up() -> dashboard.Panel:
    return stat_panel(
        "Redis",
        "Whether the exporter reaches Redis.",
        "none",
        [query(f"redis_up{{{exporter(ADDR)}}}", "{{addr}}", instant=True)],
        mappings=one_zero_mappings("up", "down"),
        width=8,
    )


def tasks_in_last_hour(title: str, description: str, metrics: list[str]) -> dashboard.Panel:
    # A task that never failed has no failed series: `or vector(0)` keeps the sum defined.
    parts = [f"(sum(increase({m}{{{exporter(QUEUE)}}}[1h])) or vector(0))" for m in metrics]
    return stat_panel(
        title, description, "short", [query(" + ".join(parts), instant=True)], width=6
    )


def tasks_queued() -> dashboard.Panel:
    return time_series(
        "Tasks queued",
        "Tasks waiting in each broker queue.",
        "short",
        [query(f"celery_queue_length{{{exporter(QUEUE)}}}", "{{queue_name}}")],
        width=12,
    )


def tasks_processed_and_failed() -> dashboard.Panel:
    return time_series(
        "Tasks processed and failed",
        "Tasks finished per second, succeeded and failed, per task.",
        "cps",
        [
            query(
                f"sum by (name) ({rate('celery_task_succeeded_total', QUEUE)})",
                "succeeded {{name}}",
            ),
            query(f"sum by (name) ({rate('celery_task_failed_total', QUEUE)})", "failed {{name}}"),
            query(
                f"sum by (name) ({rate('celery_task_retried_total', QUEUE)})", "retried {{name}}"
            ),
        ],
        width=12,
    )


def processed_in_last_hour() -> dashboard.Panel:
    return tasks_in_last_hour(
        "Processed in the last hour",
        "Tasks that finished (succeeded or failed) in the last hour.",
        ["celery_task_succeeded_total", "celery_task_failed_total"],
    )


def failed_in_last_hour() -> dashboard.Panel:
    return tasks_in_last_hour(
        "Failed in the last hour",
        "Tasks that failed in the last hour.",
        ["celery_task_failed_total"],
    )


def workers_up() -> dashboard.Panel:
    return stat_panel(
        "Workers up",
        "Celery workers sending heartbeats now.",
        "short",
        [query(f"sum(celery_worker_up{{{exporter()}}})", instant=True)],
        colours=thresholds((None, "red"), (1, "green")),
        width=6,
    )


def tasks_running() -> dashboard.Panel:
    return stat_panel(
        "Tasks running",
        "Tasks the workers are executing now.",
        "short",
        [query(f"sum(celery_worker_tasks_active{{{exporter()}}})", instant=True)],
        width=6,
    )


def average_processing_time() -> dashboard.Panel:
    return time_series(
        "Average processing time",
        "Average run time of each task's successful runs (the exporter times those only); "
        "a task with no successful run in the interval has no line.",
        "s",
        [
            # `> 0` drops the runs-per-second that are 0, so a task that only fails
            # reads no value instead of 0/0 = NaN.
            query(
                f"sum by (name) ({rate('celery_task_runtime_sum', QUEUE)})"
                f" / (sum by (name) ({rate('celery_task_runtime_count', QUEUE)}) > 0)",
                "{{name}}",
            )
        ],
        width=12,
    )


def failures_by_exception() -> dashboard.Panel:
    return time_series(
        "Failures by exception",
        "Failed tasks per second, per task and exception.",
        "cps",
        [
            query(
                f"sum by (name, exception) ({rate('celery_task_failed_total', QUEUE)})",
                "{{name}}: {{exception}}",
            )
        ],
        width=12,
    )


def build() -> dashboard.Dashboard:
    return (
        new_dashboard(
            UID,
            "painel / Redis and Celery",
            "Redis hit rate, memory, commands, clients and evictions; Celery queues, tasks and "
            "workers.",
            "now-6h",
        )
        .with_variable(label_variable("addr", "Redis", f"redis_up{{{exporter()}}}", "addr"))
        .with_variable(
            label_variable("queue", "Queue", f"celery_queue_length{{{exporter()}}}", "queue_name")
        )
        .with_row(dashboard.Row("Redis"))
        .with_panel(redis_up())
        .with_panel(hit_rate())
        .with_panel(memory())
        .with_panel(commands())
        .with_panel(clients())
        .with_panel(evictions())
        .with_panel(latency())
        .with_row(dashboard.Row("Celery"))
        .with_panel(tasks_queued())
        .with_panel(tasks_processed_and_failed())
        .with_panel(processed_in_last_hour())
        .with_panel(failed_in_last_hour())
        .with_panel(workers_up())
        .with_panel(tasks_running())
        .with_panel(average_processing_time())
        .with_panel(failures_by_exception())
    )
