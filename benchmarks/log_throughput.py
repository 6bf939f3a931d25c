"""Log collector throughput against mtail, on the same file in the same run.

    .venv/bin/python -m benchmarks.log_throughput [--lines 2000000]   # from the repository root

Generates a Python log ('asctime LEVEL logger message', with tracebacks) knowing its exact
counts, starts painel-exporter (logs collector only) and mtail 3.0 (Debian's package,
installed with apt-get when missing) on one empty file, appends the log to it, and waits
until both have counted every record. Prints lines per CPU-second of each process (its own
user+system time, from psutil), the ratio, the exporter's memory growth (its peak resident
memory while reading, from the kernel, less its resident memory before), and whether both
counts are exact.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil
from prometheus_client.parser import text_string_to_metric_families

from local_services.paths import REPO_ROOT
from local_services.ports import free_port
from local_services.waiting import wait_for_port

LEVELS = ["INFO"] * 70 + ["DEBUG"] * 15 + ["WARNING"] * 10 + ["ERROR"] * 4 + ["CRITICAL"]
TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/srv/shop/views.py", line 42, in get\n'
    "    raise PaymentDeclined(card)\n"
    "shop.payments.PaymentDeclined: card declined\n"
)
MTAIL_PROGRAM = r"""
counter log_messages_total by level
counter log_exception_lines_total

/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL) / {
  log_messages_total[$level]++
}
/^[A-Za-z_][\w.]*: / {
  log_exception_lines_total++
}
"""


def generate(path: Path, lines: int) -> tuple[dict[str, int], int]:
    """Write the log; return its exact counts by level and its number of tracebacks."""
    rng = random.Random(42)
    counts = dict.fromkeys(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], 0)
    tracebacks = written = 0
    with open(path, "w") as out:
        batch = []
        while written < lines:
            level = rng.choice(LEVELS)
            n = written
            batch.append(
                f"2024-05-01 12:{n // 60 % 60:02d}:{n % 60:02d},{n % 1000:03d} {level} "
                f"django.request GET /api/v1/orders/{n % 9973}/ 200 t=acme{n % 50}\n"
            )
            counts[level] += 1
            written += 1
            if level == "ERROR" and n % 3 == 0 and written + 4 <= lines:
                batch.append(TRACEBACK)
                tracebacks += 1
                written += 4
            if len(batch) >= 10_000:
                out.write("".join(batch))
                batch.clear()
        out.write("".join(batch))
    return counts, tracebacks


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(samples, name: str, **labels) -> float:
    return sum(
        value
        for (sample, pairs), value in samples.items()
        if sample == name and all(dict(pairs).get(k) == v for k, v in labels.items())
    )


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def reset_peak_rss(pid: int) -> None:
    """Start the kernel's peak-RSS record (VmHWM) afresh: writing 5 to clear_refs does so."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def peak_rss(pid: int) -> int:
    """The process's peak resident memory since the last reset, in bytes (Linux VmHWM).

    Sampling the RSS would miss the peak: the 1 MiB read buffers are mmap'd and given back
    to the kernel as soon as they are freed.
    """
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/<pid>/status")


def ensure_mtail() -> str:
    if shutil.which("mtail") is None:
        subprocess.run(["apt-get", "install", "-y", "-qq", "mtail"], check=True)
    return shutil.which("mtail")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2_000_000)
    args = parser.parse_args()
    mtail = ensure_mtail()
    work = Path(tempfile.mkdtemp(prefix="painel-bench-logs-"))
    source, target = work / "source.log", work / "app.log"
    print(f"generating {args.lines:,} lines ...", flush=True)
    levels, tracebacks = generate(source, args.lines)
    size_mb = source.stat().st_size / 1e6
    records = sum(levels.values())
    print(f"{size_mb:.0f} MB, {records:,} records, {tracebacks:,} tracebacks")

    target.write_bytes(b"")
    (work / "progs").mkdir()
    (work / "progs" / "bench.mtail").write_text(MTAIL_PROGRAM)
    mtail_port, exporter_port = free_port(), free_port()
    mtail_proc = subprocess.Popen(
        [mtail, "-progs", work / "progs", "-logs", target, "-port", str(mtail_port),
         "-address", "127.0.0.1", "-logtostderr"],
        stdout=subprocess.DEVNULL, stderr=open(work / "mtail.err", "wb"),  # noqa: SIM115
    )  # fmt: skip
    exporter_proc = subprocess.Popen(
        [sys.executable, "-m", "exporter", "--listen", f"127.0.0.1:{exporter_port}",
         "--collectors", "logs", "--log-file", f"bench={target}"],
        cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=open(work / "exporter.err", "wb"),  # noqa: SIM115
    )  # fmt: skip
    try:
        wait_for_port(mtail_port)
        wait_for_port(exporter_port)
        time.sleep(1.0)  # both followers have opened the empty file
        procs = {
            "painel": psutil.Process(exporter_proc.pid),
            "mtail": psutil.Process(mtail_proc.pid),
        }
        cpu_before = {name: cpu_seconds(p) for name, p in procs.items()}
        rss_before = procs["painel"].memory_info().rss
        reset_peak_rss(exporter_proc.pid)
        with open(source, "rb") as src, open(target, "ab") as dst:
            shutil.copyfileobj(src, dst, 8 << 20)
        done: dict[str, float] = {}
        last_progress, seen = time.monotonic(), None
        while len(done) < 2 and time.monotonic() - last_progress < 30:
            painel_samples, mtail_samples = scrape(exporter_port), scrape(mtail_port)
            counted = (
                total(painel_samples, "log_messages_total", log="bench"),
                total(painel_samples, "log_exceptions_total", log="bench"),
                total(mtail_samples, "log_messages_total"),
            )
            if counted != seen:
                last_progress, seen = time.monotonic(), counted
            if "painel" not in done and counted[:2] >= (records, tracebacks):
                done["painel"] = cpu_seconds(procs["painel"])
            if "mtail" not in done and counted[2] >= records:
                done["mtail"] = cpu_seconds(procs["mtail"])
            time.sleep(0.2)
        if len(done) < 2:
            raise SystemExit(f"stalled before the end; counted {seen}, finished: {sorted(done)}")
        rss_peak = peak_rss(exporter_proc.pid)
    finally:
        for proc in (exporter_proc, mtail_proc):
            proc.terminate()
            proc.wait(timeout=10)

    painel_exact = (
        all(
            total(painel_samples, "log_messages_total", log="bench", level=level.lower()) == n
            for level, n in levels.items()
        )
        and total(painel_samples, "log_exceptions_total", log="bench") == tracebacks
    )
    mtail_exact = (
        all(
            total(mtail_samples, "log_messages_total", level=level) == n
            for level, n in levels.items()
        )
        and total(mtail_samples, "log_exception_lines_total") == tracebacks
    )
    rate = {name: args.lines / (done[name] - cpu_before[name]) for name in done}
    print(f"painel-exporter: {rate['painel']:>12,.0f} lines per CPU-second  exact={painel_exact}")
    print(f"mtail:           {rate['mtail']:>12,.0f} lines per CPU-second  exact={mtail_exact}")
    print(f"ratio painel/mtail: {rate['painel'] / rate['mtail']:.1f}x (target >= 4x)")
    print(
        f"exporter memory growth: {(rss_peak - rss_before) / 2**20:.1f} MiB at its peak "
        f"(target < 32 MiB)"
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
