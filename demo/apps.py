from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "demo"

    def ready(self) -> None:
        # Make the demo's Celery app the current one before any `@shared_task` is sent, so
        # tasks go to the configured Redis broker and never to a default AMQP broker.
        from .celery import app  # noqa: F401
