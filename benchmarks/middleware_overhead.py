"""Per-request overhead of MetricsMiddleware against django-prometheus, over bare Django.

    .venv/bin/python -m benchmarks.middleware_overhead [--processes 6] [--rounds 30]   # from the root

Three WSGI handlers live in each benchmark process: bare Django, django-prometheus's
Before/After middleware and painel's MetricsMiddleware. The process times batches of
in-process WSGI calls (across 50 routes and 20 tenants, in CPU time: what other jobs on a
shared machine run does not count) round after round, the three handlers in a shuffled order
in each round, so that a change of load or CPU speed hits them alike within a fraction of a
second. A handler's cost in a process is its fastest batch (the least disturbed); each
process gives a ratio of overheads painel / django-prometheus. Processes alternate between
single-process and multiprocess mode (PROMETHEUS_MULTIPROC_DIR set, on /dev/shm when there
is one), and several of each
average out what differs between processes (memory layout, hash seeds).
It prints per handler the median cost per request over the processes and its overhead over
bare Django, the ratio of those overheads and the range of the processes' own ratios, with the
load average before and after.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

from local_services.paths import REPO_ROOT

VARIANTS = {
    "bare": [],
    "django-prometheus": [
        "django_prometheus.middleware.PrometheusBeforeMiddleware",
        "django_prometheus.middleware.PrometheusAfterMiddleware",
    ],
    "painel": ["django_middleware.middleware.MetricsMiddleware"],
}
ROUTES = 50
TENANTS = 20


def view(request, pk):
    from django.http import HttpResponse

    return HttpResponse(b"ok")


def build_urlpatterns():
    """50 routes, half of them behind an include, like a real API."""
    from django.urls import include, path

    api = [path(f"resource{i}/<int:pk>/", view) for i in range(ROUTES // 2)]
    top = [path(f"page{i}/<int:pk>/", view) for i in range(ROUTES - ROUTES // 2)]
    return [path("api/v1/", include(api)), *top]


def environs() -> list[dict]:
    paths = [f"/api/v1/resource{i}/{i * 7}/" for i in range(ROUTES // 2)]
    paths += [f"/page{i}/{i * 3}/" for i in range(ROUTES - ROUTES // 2)]
    base = {
        "REQUEST_METHOD": "GET",
        "SERVER_NAME": "bench",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "wsgi.url_scheme": "http",
        "REMOTE_ADDR": "127.0.0.1",
    }
    return [
        {**base, "PATH_INFO": path, "HTTP_X_TENANT_ID": f"tenant-{t}"}
        for t in range(TENANTS)
        for path in paths
    ]


def setup_django() -> None:
    """Django configured and set up with this module as the URLconf; once per process."""
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,  # urlpatterns below
        MIDDLEWARE=[],
        INSTALLED_APPS=["django_middleware"],
        DATABASES={},
        USE_TZ=True,
        LOGGING_CONFIG=None,
    )
    django.setup()

    global urlpatterns  # this module is the URLconf
    urlpatterns = build_urlpatterns()


def make_handler(middleware: list[str]):
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler

    settings.MIDDLEWARE = middleware  # a handler reads it once, when it is made
    return WSGIHandler()


def start_response(status, headers, exc_info=None):
    if not status.startswith("200"):
        raise SystemExit(f"{status}")


def serve(handler, envs: list[dict], n: int) -> None:
    """n in-process WSGI calls, cycling through envs."""
    for i in range(n):
        env = envs[i % len(envs)].copy()
        env["wsgi.input"] = io.BytesIO()
        response = handler(env, start_response)
        response.close()


def warm_up(handler, envs: list[dict]) -> None:
    serve(handler, envs, 2 * len(envs))  # label children, URL resolver caches


def run_child(requests: int, rounds: int) -> dict[str, float]:
    """Seconds per request of each handler, its fastest batch; in the child process."""
    setup_django()
    handlers = {variant: make_handler(middleware) for variant, middleware in VARIANTS.items()}
    envs = environs()

    def batch(handler, n: int) -> float:
        start = time.process_time()
        serve(handler, envs, n)
        return (time.process_time() - start) / n

    for handler in handlers.values():
        warm_up(handler, envs)
    fastest = dict.fromkeys(handlers, float("inf"))
    order = list(handlers)
    shuffle = random.Random(os.getpid()).shuffle
    for _ in range(rounds):
        shuffle(order)
        for variant in order:
            fastest[variant] = min(fastest[variant], batch(handlers[variant], requests))
    return fastest


def measure(multiprocess: bool, requests: int, rounds: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    # On tmpfs when the machine has one, as deployments keep the directory (docs/scaling.md,
    # docs/kubernetes.md): on a disk the kernel writes the mapped pages back and the next write
    # to each faults, a cost of the disk that lands on whichever handler writes next.
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(prefix="painel-bench-", dir=shm) as multiproc_dir:
        if multiprocess:
            env["PROMETHEUS_MULTIPROC_DIR"] = multiproc_dir
        argv = [sys.executable, __file__, "--child", "--requests", str(requests)]
        argv += ["--rounds", str(rounds)]
        result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"the benchmark process failed:\n{result.stderr}")
    return json.loads(result.stdout)


def overhead_ratio(costs: dict[str, float]) -> float:
    bare = costs["bare"]
    return (costs["painel"] - bare) / (costs["django-prometheus"] - bare)


def report(mode: str, runs: list[dict[str, float]]) -> None:
    median = {variant: statistics.median(run[variant] for run in runs) for variant in VARIANTS}
    print(f"\n{mode}: microseconds per request (median of {len(runs)} processes)")
    for variant, value in median.items():
        overhead = "" if variant == "bare" else f"  overhead {1e6 * (value - median['bare']):6.1f}"
        print(f"  {variant:18} {1e6 * value:6.1f}{overhead}")
    ratios = sorted(overhead_ratio(run) for run in runs)
    print(f"  ratio of the overheads, painel / django-prometheus: {overhead_ratio(median):.2f}")
    print(f"  the processes' own ratios: {', '.join(f'{r:.2f}' for r in ratios)}")


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=6, help="per mode")
    parser.add_argument("--rounds", type=int, default=30, help="per process")
    parser.add_argument("--requests", type=int, default=1000, help="per batch")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_child(args.requests, args.rounds)))
        return
    print(f"load average (1, 5, 15 min) before: {load_average()}; {os.cpu_count()} CPUs")
    modes = {False: "single process", True: "multiprocess"}
    runs: dict[bool, list[dict[str, float]]] = {mode: [] for mode in modes}
    for _ in range(args.processes):
        for mode in modes:
            runs[mode].append(measure(mode, args.requests, args.rounds))
    for mode, name in modes.items():
        report(name, runs[mode])
    print(f"\nload average (1, 5, 15 min) after: {load_average()}")


if __name__ == "__main__":
    main()
