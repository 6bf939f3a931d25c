"""One /metrics answer, parsed by prometheus_client's own parser: its samples by name and labels."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


class Scrape:
    """One /metrics answer, parsed by prometheus_client's own parser."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.families = {f.name: f for f in text_string_to_metric_families(text)}
        self._samples = [s for f in self.families.values() for s in f.samples]

    # `name` is positional-only so that a label called `name` (celery's task name) can be
    # matched too.
    def samples(self, name: str, /, **labels: str) -> list[tuple[dict[str, str], float]]:
        """(labels, value) of every sample called `name` whose labels include `labels`."""
        return [
            (dict(s.labels), s.value)
            for s in self._samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        ]

    def value(self, name: str, /, **labels: str) -> float | None:
        """The one sample matching exactly; None when absent; error when ambiguous."""
        found = self.samples(name, **labels)
        if len(found) > 1:
            raise AssertionError(f"{len(found)} samples of {name} match {labels}: {found}")
        return found[0][1] if found else None

    def __len__(self) -> int:
        """How many samples (series) the answer holds."""
        return len(self._samples)

    def names(self) -> set[str]:
        return {s.name for s in self._samples}

    def type_of(self, family: str) -> str | None:
        return self.families[family].type if family in self.families else None
