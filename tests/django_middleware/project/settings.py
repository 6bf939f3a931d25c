"""A small multi-tenant Django project the middleware tests run, in-process and under servers.

Environment knobs (all optional): PAINEL_TEST_REDIS_URL points the cache and the Celery
broker at a redis-server a test started; PAINEL_TEST_SETTINGS is a JSON object used as
PAINEL; PAINEL_TEST_SLOW_LOG is a file the slow-request records go to; PAINEL_TEST_DATABASE
is a SQLite file (migrated by the test) for a server whose users sign in.
"""

import json
import os

SECRET_KEY = "painel-tests-only"
DEBUG = os.environ.get("PAINEL_TEST_DEBUG") == "1"
ALLOWED_HOSTS = ["*"]
USE_TZ = True
ROOT_URLCONF = "tests.django_middleware.project.urls"
WSGI_APPLICATION = "tests.django_middleware.project.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django_prometheus",
    "django_middleware",
]

MIDDLEWARE = [
    "django_middleware.middleware.MetricsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "tests.django_middleware.project.middleware.HeaderUserMiddleware",
]

DATABASES = {
    "default": {
        # django-prometheus's wrapper: it counts queries, we do not measure them again.
        "ENGINE": "django_prometheus.db.backends.sqlite3",
        "NAME": os.environ.get("PAINEL_TEST_DATABASE", ":memory:"),
    }
}

REDIS_URL = os.environ.get("PAINEL_TEST_REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        },
        "local": {"BACKEND": "django_prometheus.cache.backends.locmem.LocMemCache"},
    }
    CELERY_BROKER_URL = REDIS_URL
else:
    CACHES = {"default": {"BACKEND": "django_prometheus.cache.backends.locmem.LocMemCache"}}

# Tests read a counter right after its first event: the new-series hold (its own tests set
# MAX_SCRAPE_INTERVAL) would show 0 for a minute.
PAINEL = {"MAX_SCRAPE_INTERVAL": 0, **json.loads(os.environ.get("PAINEL_TEST_SETTINGS", "{}"))}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"message": {"format": "%(message)s"}},
    "handlers": {},
    "loggers": {},
}
if os.environ.get("PAINEL_TEST_DJANGO_LOG"):
    # With DEBUG on, Django logs here every middleware it has to adapt between sync and async.
    LOGGING["handlers"]["django_file"] = {
        "class": "logging.FileHandler",
        "filename": os.environ["PAINEL_TEST_DJANGO_LOG"],
    }
    LOGGING["loggers"]["django.request"] = {"handlers": ["django_file"], "level": "DEBUG"}
if os.environ.get("PAINEL_TEST_SLOW_LOG"):
    LOGGING["handlers"]["slow_file"] = {
        "class": "logging.FileHandler",
        "filename": os.environ["PAINEL_TEST_SLOW_LOG"],
        "formatter": "message",
    }
    LOGGING["loggers"]["painel.slow_requests"] = {
        "handlers": ["slow_file"],
        "level": "INFO",
        "propagate": False,
    }
