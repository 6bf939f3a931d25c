"""Instructions per request of MetricsMiddleware against django-prometheus, counted by callgrind.

    .venv/bin/python -m benchmarks.middleware_instructions [--requests 1000] [--jobs 2]

Timings on a shared machine move by about ±0.02 in ratio from run to run (see
benchmarks/middleware_overhead.py); instruction counts do not. This script counts, with
valgrind's callgrind, the instructions one in-process WSGI call costs for four handlers
built by middleware_overhead's own code (same 50 routes, 20 tenants, settings, request loop
and warm-up): bare Django, Django with one empty middleware (what any middleware costs),
django-prometheus's Before/After middleware and painel's MetricsMiddleware, each
single-process and multiprocess (PROMETHEUS_MULTIPROC_DIR on /dev/shm when there is one).

Method: callgrind's client requests (valgrind.h) that switch collection on and off are not
reachable from Python, so collection is switched by a C function instead: each handler runs
in its own process under `valgrind --tool=callgrind --collect-atstart=no
--toggle-collect=ffi_call`, which collects only while libffi's `ffi_call` runs. The process
sets Django up and warms the handler up (two passes over the 1,000 routes x tenants, so each
measured request finds its series made) uncounted, then calls libc's `qsort` on two integers
through ctypes (ctypes calls C through `ffi_call`), and the comparison function qsort calls
back once serves the N measured requests. Nothing else in the process calls through ctypes,
so the count is those N requests plus the few thousand instructions of the ctypes call
itself (a few per request). Before the measured requests the start-up's objects are frozen
(gc.freeze()), so that a full garbage collection over them does not land among the measured
requests of one handler and not of another; the collections of what the requests allocate
are still counted. The hash seed is fixed (PYTHONHASHSEED=0). What still differs between two
processes running the same code, up to about 4,500 instructions per request, is in the
allocator (_PyObject_Free, glibc's _int_malloc) and in dict probes, which follow the heap's
layout; the interpreter loop (_PyEval_EvalFrameDefault) counts the same from run to run
(`--keep DIR` and callgrind_annotate show it per function). An overhead is thus known to
about ±5,000 instructions per request (README, Benchmarks).

valgrind slows Python about 50 times: the defaults (1,000 measured requests, one per label
set, after 2,000 warm-up requests; 8 processes, two at a time) take about 3 minutes on a
2-core machine. Overhead is a handler's count minus bare Django's; the ratio is painel's
overhead over django-prometheus'.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

from benchmarks import middleware_overhead as overhead
from local_services.paths import REPO_ROOT

VARIANTS = {
    "bare": overhead.VARIANTS["bare"],
    "empty middleware": ["benchmarks.middleware_instructions.EmptyMiddleware"],
    "painel": overhead.VARIANTS["painel"],
    "django-prometheus": overhead.VARIANTS["django-prometheus"],
}
MODES = {False: "single process", True: "multiprocess"}


class EmptyMiddleware:
    """Passes the request on: Django's own cost of one middleware layer."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)


def run_child(variant: str, requests: int) -> None:
    overhead.setup_django()
    handler = overhead.make_handler(VARIANTS[variant])
    envs = overhead.environs()
    overhead.warm_up(handler, envs)
    # The start-up's objects out of the garbage collector's reach: a full collection over
    # them costs millions of instructions, and whether one falls among the measured
    # requests would depend on how much each set-up allocated, not on the handler.
    gc.collect()
    gc.freeze()
    failed = []

    def measured(a: int, b: int) -> int:  # qsort's comparison: the counted part
        try:
            overhead.serve(handler, envs, requests)
        except BaseException as exc:  # ctypes would print and swallow it
            failed.append(exc)
        return 0

    compare = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)(measured)
    pair = (ctypes.c_int * 2)(1, 2)
    ctypes.CDLL(None).qsort(pair, 2, ctypes.sizeof(ctypes.c_int), compare)
    if failed:
        raise failed[0]


def count(variant: str, multiprocess: bool, requests: int, keep: str | None = None) -> int:
    """Instructions callgrind collected in one child process: its measured requests."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONHASHSEED": "0"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with (
        tempfile.TemporaryDirectory(prefix="painel-instr-", dir=shm) as multiproc_dir,
        tempfile.TemporaryDirectory(prefix="painel-callgrind-") as out,
    ):
        if multiprocess:
            env["PROMETHEUS_MULTIPROC_DIR"] = multiproc_dir
        log = os.path.join(out, "log")
        argv = ["valgrind", "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=ffi_call"]
        argv += [f"--log-file={log}"]
        name = f"callgrind.{variant.replace(' ', '-')}.{'multi' if multiprocess else 'single'}"
        argv += [f"--callgrind-out-file={os.path.join(keep or out, name)}"]
        argv += [sys.executable, "-m", "benchmarks.middleware_instructions", "--child", variant]
        argv += ["--requests", str(requests)]
        result = subprocess.run(argv, env=env, cwd=REPO_ROOT, capture_output=True, text=True)
        with open(log) as file:
            text = file.read()
    if result.returncode != 0:
        raise SystemExit(f"the {variant} process failed:\n{result.stderr}\n{text}")
    collected = re.search(r"Collected\s*:\s*(\d+)", text)
    if collected is None:
        raise SystemExit(f"no instruction count in callgrind's log:\n{text}")
    return int(collected.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="measured, per handler")
    parser.add_argument("--jobs", type=int, default=2, help="valgrind processes at a time")
    parser.add_argument(
        "--keep", metavar="DIR", help="keep callgrind's profiles there (for callgrind_annotate)"
    )
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.child, args.requests)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit(
            "valgrind is not installed: on Debian or Ubuntu `sudo apt-get install valgrind`"
        )
    if args.keep:
        args.keep = os.path.abspath(args.keep)  # the children run from the repository root
        os.makedirs(args.keep, exist_ok=True)
    if args.requests < 1:
        raise SystemExit("--requests must be at least 1")
    print(
        f"callgrind: instructions per request, {args.requests} requests after "
        f"{2 * len(overhead.environs())} warm-up ones, each handler in its own process"
    )
    runs = [(variant, mode) for mode in MODES for variant in VARIANTS]
    with ThreadPoolExecutor(args.jobs) as pool:
        totals = pool.map(lambda run: count(*run, args.requests, args.keep), runs)
        counts = {run: total / args.requests for run, total in zip(runs, totals, strict=True)}
    for mode, name in MODES.items():
        bare = counts["bare", mode]
        print(f"\n{name}")
        for variant in VARIANTS:
            value = counts[variant, mode]
            extra = "" if variant == "bare" else f"  overhead {value - bare:+10,.0f}"
            print(f"  {variant:18} {value:10,.0f}{extra}")
        ratio = (counts["painel", mode] - bare) / (counts["django-prometheus", mode] - bare)
        print(f"  ratio of the overheads, painel / django-prometheus: {ratio:.3f}")


if __name__ == "__main__":
    main()
