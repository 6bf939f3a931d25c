"""Celery in the exporter's tests: a sample by task name, and events the exporter hears."""

from __future__ import annotations

from local_services.waiting import wait_until


def sample(scrape, metric: str, task: str | None = None, **labels: str) -> float | None:
    """The one sample of `metric` in an exporter scrape whose labels include these, None
    when no sample matches; the task name (the `name` label) is passed as `task`."""
    if task is not None:
        labels["name"] = task
    return scrape.value(metric, **labels)


def wait_for_receiver(exporter, app, timeout: float = 20.0) -> None:
    """Block until the exporter's event receiver listens on `app`'s broker.

    Redis delivers events only to receivers subscribed at that moment, so a test that
    publishes before then loses them. This sends a harmless event of no known type until
    the exporter counts one.
    """

    def received() -> bool:
        send_probe_event(app)
        scrape = exporter.scrape()
        return (sample(scrape, "painel_exporter_celery_events_received_total") or 0) > 0

    wait_until(received, timeout, what="the exporter to receive a celery event")


def send_probe_event(app) -> None:
    """One event of a type no collector counts: proof of life for the events stream."""
    with app.events.default_dispatcher() as dispatcher:
        dispatcher.send("painel-probe")
