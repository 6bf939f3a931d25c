"""Settings of the demo shop: every address and path comes from the environment.

Run locally by scripts/stack.sh and in containers by docker-compose.yml; both set the
DEMO_* variables below, the defaults are for `manage.py runserver` on a laptop.
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
LOG_DIR = Path(os.environ.get("DEMO_LOG_DIR", BASE_DIR / "logs"))
LOG_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = os.environ.get("DEMO_SECRET_KEY", "painel-demo-not-a-secret")
DEBUG = os.environ.get("DEMO_DEBUG", "0") == "1"
# Tenants also arrive as subdomains (acme.localhost), hence the leading dots.
ALLOWED_HOSTS = os.environ.get(
    "DEMO_ALLOWED_HOSTS", "localhost,.localhost,127.0.0.1,[::1],app"
).split(",")

REDIS_URL = os.environ.get("DEMO_REDIS_URL", "redis://127.0.0.1:6379")
# The cache may live on its own server (the stacks do that): its hit ratio is then the app's.
CACHE_URL = os.environ.get("DEMO_CACHE_URL", f"{REDIS_URL}/1")
# The slow report's work: longer than PAINEL's slow threshold, so every report counts as slow.
REPORT_SECONDS = float(os.environ.get("DEMO_REPORT_SECONDS", "0.7"))
CHECKOUT_FAILURE_RATE = float(os.environ.get("DEMO_CHECKOUT_FAILURE_RATE", "0.2"))

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django_middleware",
    "demo",
]

MIDDLEWARE = [
    # First, so that it times everything below it and sees every exception.
    "django_middleware.middleware.MetricsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "demo.users.HeaderUserMiddleware",
]

ROOT_URLCONF = "demo.urls"
WSGI_APPLICATION = "demo.wsgi.application"
USE_TZ = True
TIME_ZONE = "UTC"

# The shop keeps nothing in a database; the health check still has one to ping.
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}

CACHES = {
    "default": {
        # django-prometheus' instrumented backend: django_cache_get_{hits,misses}_total.
        "BACKEND": "django_prometheus.cache.backends.redis.RedisCache",
        "LOCATION": CACHE_URL,
        "TIMEOUT": 300,
    }
}

CELERY_BROKER_URL = f"{REDIS_URL}/0"
# task-sent events come from the web process, the rest from the worker started with -E.
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

PAINEL = {
    "TENANT_HEADER": "X-Tenant-ID",
    # The header first, then the subdomain: see demo/tenants.py.
    "TENANT_RESOLVER": "demo.tenants.tenant_from_request",
    "USER_FIELD": "username",
    "HEALTH_TIMEOUT": 2.0,
    # The longest interval any Prometheus scrapes at (demo/stack.py sets its own).
    "MAX_SCRAPE_INTERVAL": float(os.environ.get("DEMO_MAX_SCRAPE_INTERVAL", "60")),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        # Python's usual layout; tracebacks follow the message line (logs collector).
        "python": {"format": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s"},
        "message": {"format": "%(message)s"},
    },
    "handlers": {
        # Watched: after logrotate moves a file, the next record goes to a fresh one.
        "errors": {
            "class": "logging.handlers.WatchedFileHandler",
            "filename": str(LOG_DIR / "errors.log"),
            "formatter": "python",
            "level": "WARNING",
        },
        "slow_requests": {
            "class": "logging.handlers.WatchedFileHandler",
            "filename": str(LOG_DIR / "slow_requests.log"),
            "formatter": "message",
        },
        "console": {"class": "logging.StreamHandler", "formatter": "python"},
    },
    # Django's, Celery's and the shop's records all reach errors.log through the root.
    "root": {"handlers": ["console", "errors"], "level": "INFO"},
    "loggers": {
        "painel.slow_requests": {
            "handlers": ["slow_requests"],
            "level": "INFO",
            "propagate": False,
        },
    },
}
# The worker keeps this configuration instead of replacing the root logger's handlers.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_REDIRECT_STDOUTS = False
