"""The collector registry: every module it loads provides CollectorModule, or loading stops."""

from __future__ import annotations

import pytest

from exporter.collectors import MODULE_NAMES, load, modules


def test_every_registered_collector_is_a_collector_module():
    assert [m.NAME for m in modules()] == MODULE_NAMES


def test_a_module_missing_a_piece_fails_to_load_with_what_it_lacks(tmp_path, monkeypatch):
    (tmp_path / "half_written_collector.py").write_text(
        'NAME = "gpu"\nbuild = None\n\ndef add_flags(parser):\n    pass\n'
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(TypeError) as raised:
        load("half_written_collector")
    assert str(raised.value) == (
        "half_written_collector is not a collector module: it lacks has_target, build "
        "(see CollectorModule in exporter/collectors/base.py)"
    )
