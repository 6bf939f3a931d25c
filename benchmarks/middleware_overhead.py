"""Per-request overhead of MetricsMiddleware against django-prometheus, over bare Django.

    .venv/bin/python benchmarks/middleware_overhead.py [--rounds 15] [--requests 10000]

Each variant (bare Django, django-prometheus's Before/After middleware, painel's
MetricsMiddleware) runs in its own process, single-process and multiprocess
(PROMETHEUS_MULTIPROC_DIR set). A run makes in-process WSGI calls across 50 routes and 20
tenants and reports the fastest of its batches in CPU time (the least disturbed by whatever
else the machine runs). A round runs every variant in both modes, in a shuffled order, so
that a change of load hits the variants alike; each round gives its own ratio of overheads
painel / django-prometheus.
It prints per variant the median cost per request and its overhead over bare Django, then the
ratio of the median overheads and the spread of the rounds' ratios (median, quartiles,
range), with the load average before and after.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
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


def run_child(variant: str, requests: int, batches: int) -> float:
    """Seconds per request, the fastest batch; in the child process."""
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,  # urlpatterns below
        MIDDLEWARE=VARIANTS[variant],
        INSTALLED_APPS=["django_middleware"] if variant == "painel" else [],
        DATABASES={},
        USE_TZ=True,
        LOGGING_CONFIG=None,
    )
    django.setup()
    from django.core.handlers.wsgi import WSGIHandler

    global urlpatterns  # this module is the URLconf
    urlpatterns = build_urlpatterns()

    handler = WSGIHandler()
    envs = environs()

    def start_response(status, headers, exc_info=None):
        if not status.startswith("200"):
            raise SystemExit(f"{variant}: {status}")

    def batch(n: int) -> float:
        # CPU time of this process: what other jobs on a shared machine run does not count.
        start = time.process_time()
        for i in range(n):
            env = envs[i % len(envs)].copy()
            env["wsgi.input"] = io.BytesIO()
            response = handler(env, start_response)
            response.close()
        return (time.process_time() - start) / n

    batch(2000)  # warm-up: label children, URL resolver caches
    per_batch = max(requests // batches, 1)
    return min(batch(per_batch) for _ in range(batches))


def measure(variant: str, multiprocess: bool, requests: int, batches: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with tempfile.TemporaryDirectory(prefix="painel-bench-") as multiproc_dir:
        if multiprocess:
            env["PROMETHEUS_MULTIPROC_DIR"] = multiproc_dir
        argv = [sys.executable, __file__, "--child", variant, "--requests", str(requests)]
        argv += ["--batches", str(batches)]
        result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{variant} failed:\n{result.stderr}")
    return json.loads(result.stdout)["seconds_per_request"]


def report(mode: str, results: dict[str, list[float]]) -> None:
    median = {variant: statistics.median(values) for variant, values in results.items()}
    bare = median["bare"]
    print(f"\n{mode}: microseconds per request (median of {len(results['bare'])} rounds)")
    for variant, value in median.items():
        overhead = "" if variant == "bare" else f"  overhead {1e6 * (value - bare):6.1f}"
        print(f"  {variant:18} {1e6 * value:6.1f}{overhead}")
    ours = median["painel"] - bare
    theirs = median["django-prometheus"] - bare
    print(f"  ratio of the median overheads, painel / django-prometheus: {ours / theirs:.2f}")
    # Each round's variants ran within seconds of each other: their ratio is the least
    # touched by load that comes and goes over the whole run.
    ratios = sorted(
        (painel - bare) / (theirs - bare)
        for bare, theirs, painel in zip(
            results["bare"], results["django-prometheus"], results["painel"], strict=True
        )
    )
    quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    print(
        f"  per-round ratios: median {statistics.median(ratios):.2f}, "
        f"quartiles {quartiles[0]:.2f}-{quartiles[2]:.2f}, range {ratios[0]:.2f}-{ratios[-1]:.2f}"
    )


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--requests", type=int, default=10000, help="per run")
    parser.add_argument("--batches", type=int, default=10, help="per run; the fastest counts")
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        seconds = run_child(args.child, args.requests, args.batches)
        print(json.dumps({"seconds_per_request": seconds}))
        return
    print(f"load average (1, 5, 15 min) before: {load_average()}; {os.cpu_count()} CPUs")
    modes = {False: "single process", True: "multiprocess"}
    results = {mode: {variant: [] for variant in VARIANTS} for mode in modes}
    shuffle = random.Random(0).shuffle  # the same orders every run
    for _ in range(args.rounds):
        runs = [(mode, variant) for mode in modes for variant in VARIANTS]
        shuffle(runs)
        for mode, variant in runs:
            results[mode][variant].append(measure(variant, mode, args.requests, args.batches))
    for mode, name in modes.items():
        report(name, results[mode])
    print(f"\nload average (1, 5, 15 min) after: {load_average()}")


if __name__ == "__main__":
    main()
