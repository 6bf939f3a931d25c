"""The README's metric rows, to check that what a collector publishes is documented."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
_ROW = re.compile(r"^\| `(?P<name>[a-zA-Z_:][\w:]*)` \| (?P<type>\w+) \|(?P<labels>[^|]*)\|", re.M)


def readme_rows() -> dict[str, tuple[str, set[str]]]:
    """metric name -> (type, labels) from every Metrics table of the README."""
    return {
        m["name"]: (m["type"], set(re.findall(r"`(\w+)`", m["labels"])))
        for m in _ROW.finditer(README.read_text())
    }


def undocumented(scrape, prefixes: tuple[str, ...]) -> list[str]:
    """Families of the scrape with one of `prefixes` whose README row is missing or wrong."""
    rows = readme_rows()
    problems = []
    for family in scrape.families.values():
        if not family.name.startswith(prefixes):
            continue
        name = family.name + "_total" if family.type == "counter" else family.name
        labels = {k for s in family.samples for k in s.labels} - {"le"}  # histogram buckets
        if rows.get(name, (None, None))[0] != family.type or not labels <= rows[name][1]:
            problems.append(f"{name} {family.type} {sorted(labels)}: README says {rows.get(name)}")
    return problems
