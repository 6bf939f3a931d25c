"""The collector that reads all workers' files, and a generate_latest that takes the fast path
for it.

Same API as prometheus_client.multiprocess's collector; see docs/multiprocess.md for the design.
`MultiProcessCollector(registry, path)` reads the directory with cached layouts (reader.py); its
`collect()` works with any registry consumer, and `generate_latest(registry)` below writes its
text without building a Sample per value.
"""

from __future__ import annotations

import contextvars
import functools
import weakref
from collections.abc import Callable

from prometheus_client import CollectorRegistry
from prometheus_client import exposition as _exposition
from prometheus_client.openmetrics import exposition as _openmetrics
from prometheus_client.openmetrics.exposition import ALLOWUTF8, UNDERSCORES
from prometheus_client.registry import REGISTRY

from . import files
from .reader import reader_for

# While generate_latest writes our collectors' text itself, prometheus_client renders the rest
# of the registry; this flag keeps our collectors out of that pass.
_rendering_fast = contextvars.ContextVar("painel_multiprocess_rendering_fast", default=False)
_collectors_by_registry: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class MultiProcessCollector:
    """Collector for the files of prometheus_client's multiprocess mode, merged ones included."""

    def __init__(
        self,
        registry: CollectorRegistry | None,
        path: str | None = None,
        max_scrape_interval: float = 0.0,
    ) -> None:
        self._path = files.directory(path)
        self._reader = reader_for(self._path)
        self._reader.hold_new_series(max_scrape_interval)
        if registry is not None:
            registry.register(self)
            _collectors_by_registry.setdefault(registry, []).append(self)

    def collect(self):
        if _rendering_fast.get():
            return iter(())
        return self._reader.metrics()

    def text(self, openmetrics: bool = False, any_escaping: bool = False) -> str | None:
        """This collector's lines (see DirectoryReader.text)."""
        return self._reader.text(openmetrics, any_escaping)


def generate_latest(registry: CollectorRegistry = REGISTRY, escaping: str = UNDERSCORES) -> bytes:
    """prometheus_client's generate_latest, with our collectors' lines written from cache."""
    return _render(registry, escaping, openmetrics=False)


def generate_latest_openmetrics(
    registry: CollectorRegistry = REGISTRY, escaping: str = UNDERSCORES
) -> bytes:
    """prometheus_client's OpenMetrics 1.0.0 generate_latest, our collectors' lines from cache."""
    return _render(registry, escaping, openmetrics=True)


def _render(registry: CollectorRegistry, escaping: str, openmetrics: bool) -> bytes:
    if openmetrics:
        render = functools.partial(_openmetrics.generate_latest, escaping=escaping, version="1.0.0")
    else:
        render = functools.partial(_exposition.generate_latest, escaping=escaping)
    ours = []
    for collector in _collectors_by_registry.get(registry, ()):
        text = collector.text(openmetrics, any_escaping=escaping != UNDERSCORES)
        if text is None:  # a name this escaping would change: prometheus_client writes it all
            return render(registry)
        ours.append(text)
    if not ours:
        return render(registry)
    token = _rendering_fast.set(True)
    try:
        rest = render(registry)
    finally:
        _rendering_fast.reset(token)
    if openmetrics:  # "# EOF" must stay the last line
        return rest.removesuffix(b"# EOF\n") + "".join(ours).encode() + b"# EOF\n"
    return rest + "".join(ours).encode()


def choose_encoder(accept_header: str | None) -> tuple[Callable[[CollectorRegistry], bytes], str]:
    """prometheus_client's choose_encoder, with our fast encoders where the output is the same:
    the classic text format and OpenMetrics 1.0.0 (what Prometheus asks for first), with the
    underscores or allow-utf-8 escaping. Anything else keeps prometheus_client's encoder."""
    encoder, content_type = _exposition.choose_encoder(accept_header)
    func = getattr(encoder, "func", encoder)
    keywords = getattr(encoder, "keywords", {})
    escaping = keywords.get("escaping", UNDERSCORES)
    if escaping not in (UNDERSCORES, ALLOWUTF8):
        return encoder, content_type
    if func is _exposition.generate_latest:
        return functools.partial(generate_latest, escaping=escaping), content_type
    if func is _openmetrics.generate_latest and keywords.get("version") == "1.0.0":
        return functools.partial(generate_latest_openmetrics, escaping=escaping), content_type
    return encoder, content_type
