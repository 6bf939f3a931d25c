"""painel's demo: a small multi-tenant Django shop with Redis and Celery, and its load.

The Celery app is imported here so that `@shared_task` binds to it whenever Django starts,
the pattern Celery documents for Django projects.
"""

from .celery import app as celery_app

__all__ = ["celery_app"]
