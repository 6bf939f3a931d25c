"""The demo's Celery app; run a worker with `celery -A demo worker -E`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo.settings")

app = Celery("demo")
app.config_from_object("django.conf:settings", namespace="CELERY")
# The tasks module is imported by the views (web) and here (worker): the tasks bind to this app.
app.autodiscover_tasks()
