"""Every dashboard panel's query timed on a real Prometheus holding a day of a large app.

    .venv/bin/python -m benchmarks.dashboard_scale [--pairs 1000] [--instances 2] [--repeats 5]
        [--data DIR] [--dashboards DIR ...]   # from the root

`--data DIR` keeps the history's blocks and the rules' (under a hash of their text) for later
runs; `--dashboards DIR` (repeatable) times those dashboards instead of grafana/dashboards,
to compare versions on the same data.

1. History (benchmarks/app_history.py): the app's families for `--pairs` endpoint-tenant
   pairs on `--instances` instances (about 33,000 series), 24 hours and 10 minutes up to now,
   written as OpenMetrics in 2-hour slices aligned as Prometheus' blocks and turned into
   blocks by `promtool tsdb create-blocks-from openmetrics`. The last RECENT seconds are
   scraped every 15 s as prometheus.yml does; older history every OLD_SCRAPE seconds, so
   that writing it takes minutes rather than an hour (queries over raw counters older than
   RECENT read a quarter of the samples they would; a group with its own interval is
   evaluated at it throughout).
2. The recording rules the dashboards read (and those they read), evaluated over the
   history by `promtool tsdb create-blocks-from rules` against the running Prometheus, at
   15 s over RECENT and OLD_SCRAPE before (a group's own interval wins), one pass per level
   of rules reading rules; Prometheus then compacts the blocks, as it would have.
3. Every query of every panel of grafana/dashboards/*.json, as Grafana sends it for the last
   hour and the last 24 hours at 1,000 pixels wide (dashboard_checks/queries.py substitutes
   the variables: every variable at All, $__interval, $__rate_interval, $__range, the
   panel's own interval and time range): range queries at Grafana's step, instant queries
   for instant targets. Each query is timed `--repeats` times (median); a panel's time is
   the sum of its queries, run one after the other. Then each rule's expression as an
   instant query at the history's end: what one evaluation costs Prometheus.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import statistics
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from benchmarks.app_history import History
from dashboard_checks.queries import ALL, PanelQuery, TimeRange, iter_panel_queries
from grafana.generator.generate import DASHBOARDS_DIR
from local_services.ports import free_port
from local_services.prometheus import PrometheusServer, repository_rule_files

SCRAPE = 15  # prometheus.yml's scrape and evaluation interval
OLD_SCRAPE = 60
RECENT = 2 * 3600
BLOCK = 2 * 3600  # promtool's and Prometheus' block range: slices never straddle one
HISTORY = 24 * 3600 + 600  # a day, and the 5-minute windows before its first point
RANGES = {"1h": 3600, "24h": 24 * 3600}
TARGETS_MS = {"1h": 100, "24h": 1000}
WIDTH = 1000  # pixels, Grafana's maxDataPoints for a panel that wide
_RECORDED = re.compile(r"\b[a-z_]+:[a-zA-Z0-9_]+:[a-zA-Z0-9_]+\b")


@dataclass
class Timing:
    query: PanelQuery
    range_name: str
    ms: float
    series: int


# --- 1. history -------------------------------------------------------------------------


def scrape_indices(first_ts: int, last_ts: int, history: History) -> list[int]:
    """Scrapes (counted in 15 s from the history's start) whose time is in [first_ts,
    last_ts]: every one over the last RECENT seconds, every OLD_SCRAPE seconds before."""
    end = history.start + HISTORY
    result = []
    for s in range((first_ts - history.start + SCRAPE - 1) // SCRAPE, HISTORY // SCRAPE + 1):
        ts = history.start + s * SCRAPE
        if ts > last_ts:
            break
        if ts >= end - RECENT or (ts - history.start) % OLD_SCRAPE == 0:
            result.append(s)
    return result


def write_history(prometheus: PrometheusServer, history: History, workdir: Path) -> None:
    """The history as blocks in the server's data directory, one 2-hour slice at a time:
    the next slice is written while promtool turns the previous one into blocks."""
    end = history.start + HISTORY
    slices, first = [], history.start
    while first <= end:
        last = min(end, (first // BLOCK + 1) * BLOCK - 1)
        slices.append((first, last))
        first = last + 1

    def write(index: int) -> Path:
        source = workdir / f"slice-{index}.om"
        with source.open("w") as out:
            out.writelines(history.openmetrics(scrape_indices(*slices[index], history)))
        return source

    with ThreadPoolExecutor(max_workers=1) as writer:
        pending = writer.submit(write, 0)
        for index, (_, last) in enumerate(slices):
            source = pending.result()
            if index + 1 < len(slices):
                pending = writer.submit(write, index + 1)
            prometheus.backfill_file(source)
            source.unlink()
            print(f"  history to {time.strftime('%H:%M', time.gmtime(last))} UTC", flush=True)


# --- 2. recording rules -----------------------------------------------------------------


def recording_rules() -> dict[str, tuple[dict, dict]]:
    """Recorded name -> (its group without rules, the rule) for every repository rule file."""
    rules = {}
    for path in repository_rule_files():
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups", []):
            bare = {k: v for k, v in group.items() if k != "rules"}
            for rule in group.get("rules", []):
                if "record" in rule:
                    rules[rule["record"]] = (bare, rule)
    return rules


def rules_read_by(exprs: list[str], rules: dict[str, tuple[dict, dict]]) -> list[list[str]]:
    """The recorded names the queries read and those they read in turn, in passes: each
    pass reads only raw series and names of earlier passes."""
    wanted, todo = set(), [n for e in exprs for n in _RECORDED.findall(e) if n in rules]
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo += [n for n in _RECORDED.findall(rules[name][1]["expr"]) if n in rules]
    passes, done = [], set()
    while wanted - done:
        ready = sorted(
            n
            for n in wanted - done
            if all(
                d in done or d == n for d in _RECORDED.findall(rules[n][1]["expr"]) if d in rules
            )
        )
        if not ready:
            raise ValueError(f"recording rules read each other in a loop: {wanted - done}")
        passes.append(ready)
        done.update(ready)
    return passes


def backfill_rules(
    prometheus: PrometheusServer,
    names: list[str],
    rules: dict,
    start: int,
    end: int,
    cache: Path | None,
) -> None:
    """The rules `names` over [start, end] into the server's data directory, then a restart
    to load them; the older part and the recent one by two promtool processes at once.
    With `cache`, the blocks are kept there under the rules' text, and reused."""
    groups: dict[str, dict] = {}
    for name in names:
        bare, rule = rules[name]
        groups.setdefault(bare["name"], {**bare, "rules": []})["rules"].append(rule)
    text = yaml.safe_dump({"groups": list(groups.values())}, sort_keys=False)
    key = hashlib.sha256(f"{start} {end} {text}".encode()).hexdigest()[:16]
    cached = cache / f"rules-{key}" if cache else None
    if cached and cached.exists():
        for block in cached.iterdir():
            shutil.copytree(block, prometheus.data_dir / block.name)
        prometheus.restart()
        return
    rule_file = prometheus.workdir / "backfill-rules.yml"
    rule_file.write_text(text)
    before = set(prometheus.data_dir.iterdir())
    recent = end - RECENT
    with ThreadPoolExecutor(max_workers=2) as promtools:
        parts = [
            promtools.submit(
                prometheus.backfill_rules, rule_file, start, recent - 1, f"{OLD_SCRAPE}s"
            ),
            promtools.submit(prometheus.backfill_rules, rule_file, recent, end, f"{SCRAPE}s"),
        ]
        for part in parts:
            part.result()
    if cached:
        for block in set(prometheus.data_dir.iterdir()) - before:
            shutil.copytree(block, cached / block.name)
    prometheus.restart()


def wait_for_compaction(prometheus: PrometheusServer, quiet: float = 90, limit: float = 900):
    """Until Prometheus has loaded the blocks and compacted nothing for `quiet` seconds (its
    compactor looks every minute)."""

    def counters() -> tuple[str, ...]:
        text = httpx.get(f"{prometheus.url}/metrics", timeout=10).text
        return tuple(
            line
            for line in text.splitlines()
            if line.startswith(
                ("prometheus_tsdb_blocks_loaded", "prometheus_tsdb_compactions_total")
            )
        )

    deadline, last, since = time.monotonic() + limit, counters(), time.monotonic()
    while time.monotonic() - since < quiet and time.monotonic() < deadline:
        time.sleep(5)
        now = counters()
        if now != last:
            last, since = now, time.monotonic()


# --- 3. the panels' queries -------------------------------------------------------------


def dashboards(directories: list[Path]) -> list[dict]:
    """The dashboards of each directory; titles name the directory when there are several
    (to time other versions of the dashboards beside the committed ones)."""
    boards = []
    for directory in directories:
        for path in sorted(directory.glob("*.json")):
            board = json.loads(path.read_text())
            if len(directories) > 1:
                board["title"] = f"{directory.name}: {board['title']}"
            boards.append(board)
    return boards


def all_values(board: dict) -> dict[str, str]:
    """Every variable that offers All, at All (as the dashboards open)."""
    return {
        v["name"]: ALL for v in board.get("templating", {}).get("list", []) if v.get("includeAll")
    }


def panel_queries(range_seconds: int, directories: list[Path]) -> list[PanelQuery]:
    time_range = TimeRange(range_seconds, SCRAPE, WIDTH)
    return [
        q
        for board in dashboards(directories)
        for q in iter_panel_queries(board, all_values(board), time_range)
    ]


def run(client: httpx.Client, url: str, query: PanelQuery, now: int) -> tuple[float, int]:
    """(milliseconds, series returned) of one query sent as Grafana sends it."""
    if query.instant:
        path, params = "query", {"query": query.expr, "time": now}
    else:
        # Grafana aligns the range to its step.
        step = query.step_seconds
        end = now // step * step
        params = {"query": query.expr, "start": end - query.range_seconds, "end": end, "step": step}
        path = "query_range"
    began = time.perf_counter()
    response = client.get(f"{url}/api/v1/{path}", params=params)
    elapsed = (time.perf_counter() - began) * 1000
    body = response.json()
    if body.get("status") != "success":
        raise RuntimeError(f"{query.panel} {query.ref_id}: {body.get('error')}\n{query.expr}")
    return elapsed, len(body["data"]["result"])


def time_queries(url: str, now: int, repeats: int, directories: list[Path]) -> list[Timing]:
    timings = []
    with httpx.Client(timeout=120) as client:
        for range_name, seconds in RANGES.items():
            for query in panel_queries(seconds, directories):
                runs = [run(client, url, query, now) for _ in range(repeats)]
                ms = statistics.median(r[0] for r in runs)
                timings.append(Timing(query, range_name, ms, runs[0][1]))
    return timings


def report(timings: list[Timing]) -> None:
    panels: dict[tuple[str, str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    series: dict[tuple[str, str, str], int] = defaultdict(int)
    for t in timings:
        key = (t.query.dashboard, t.query.panel, t.query.panel_type)
        panels[key][t.range_name] += t.ms
        series[key] = max(series[key], t.series)
    print(f"\n{'dashboard / panel':70} {'type':12} {'1h ms':>8} {'24h ms':>8} {'series':>7}")
    for (board, panel, kind), ms in sorted(panels.items(), key=lambda i: -i[1]["24h"]):
        name = f"{board.removeprefix('painel / ')} / {panel}"[:70]
        print(
            f"{name:70} {kind:12} {ms['1h']:8.1f} {ms['24h']:8.1f} {series[(board, panel, kind)]:7}"
        )
    print("\nworst per panel type:")
    by_type: dict[str, dict[str, tuple[float, str]]] = defaultdict(dict)
    for (_, panel, kind), ms in panels.items():
        for range_name in RANGES:
            if ms[range_name] > by_type[kind].get(range_name, (-1, ""))[0]:
                by_type[kind][range_name] = (ms[range_name], panel)
    for kind, worst in sorted(by_type.items()):
        cells = "   ".join(f"{r}: {worst[r][0]:7.1f} ms ({worst[r][1]})" for r in RANGES)
        print(f"  {kind:12} {cells}")
    for range_name, target in TARGETS_MS.items():
        (board, panel, _), ms = max(panels.items(), key=lambda i: i[1][range_name])
        verdict = "meets" if ms[range_name] <= target else "MISSES"
        print(
            f"worst over {range_name}: {ms[range_name]:.1f} ms, {board} / {panel} "
            f"({verdict} the target of {target} ms)"
        )


def report_rules(url: str, now: int, repeats: int, names: list[str], rules: dict) -> None:
    """What each rule costs Prometheus at each evaluation: its expression as an instant
    query at the history's end."""
    print("\nrecording rules, one evaluation (ms), every:")
    with httpx.Client(timeout=120) as client:
        for name in names:
            group, rule = rules[name]
            query = PanelQuery("rules", name, "", rule["expr"], instant=True)
            ms = statistics.median(run(client, url, query, now)[0] for _ in range(repeats))
            print(f"  {name:80} {ms:8.1f}  {group.get('interval', f'{SCRAPE}s')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--data", type=Path, help="keep the history's and rules' blocks here for later runs"
    )
    parser.add_argument(
        "--dashboards",
        type=Path,
        action="append",
        help=f"a directory of dashboards to time (repeatable; default {DASHBOARDS_DIR})",
    )
    args = parser.parse_args()
    directories = args.dashboards or [DASHBOARDS_DIR]

    workdir = Path(tempfile.mkdtemp(prefix="painel-dashboard-scale-"))
    try:
        prometheus = PrometheusServer(
            workdir / "prometheus",
            django=[f"127.0.0.1:{free_port()}"],  # nothing listens: only past data is read
            exporter=[f"127.0.0.1:{free_port()}"],
            rule_files=[],  # recorded series come from the backfill, none live
            interval=f"{SCRAPE}s",
        )
        now = load_history(prometheus, args, workdir)
        prometheus.start()
        rules = recording_rules()
        exprs = [q.expr for q in panel_queries(RANGES["24h"], directories)]
        passes = rules_read_by(exprs, rules)
        began = time.monotonic()
        for names in passes:
            backfill_rules(prometheus, names, rules, now - HISTORY + 300, now, args.data)
        print(f"rules backfilled in {time.monotonic() - began:.0f} s: {sum(map(len, passes))}")
        began = time.monotonic()
        wait_for_compaction(prometheus)
        print(f"compaction settled in {time.monotonic() - began:.0f} s")
        print(f"load average before timing: {os.getloadavg()[0]:.2f}")
        report(time_queries(prometheus.url, now, args.repeats, directories))
        report_rules(prometheus.url, now, args.repeats, [n for p in passes for n in p], rules)
        print(f"load average after timing: {os.getloadavg()[0]:.2f}")
    finally:
        if "prometheus" in locals():
            prometheus.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def load_history(prometheus: PrometheusServer, args: argparse.Namespace, workdir: Path) -> int:
    """The history's blocks in the server's data directory (written, or copied from --data);
    returns the time of its last scrape, the "now" the queries ask at."""
    key = f"pairs={args.pairs} instances={args.instances} v1"
    marker = args.data / "history.json" if args.data else None
    if marker and marker.exists() and json.loads(marker.read_text())["key"] == key:
        shutil.copytree(args.data / "blocks", prometheus.data_dir)
        return json.loads(marker.read_text())["now"]
    now = int(time.time()) // SCRAPE * SCRAPE - SCRAPE
    history = History(args.pairs, args.instances, SCRAPE, now - HISTORY)
    print(f"writing {history.series_count()} series of history", flush=True)
    began = time.monotonic()
    write_history(prometheus, history, workdir)
    print(f"history written in {time.monotonic() - began:.0f} s")
    if args.data:
        shutil.rmtree(args.data, ignore_errors=True)
        shutil.copytree(prometheus.data_dir, args.data / "blocks")
        marker.write_text(json.dumps({"key": key, "now": now}))
    return now


if __name__ == "__main__":
    main()
