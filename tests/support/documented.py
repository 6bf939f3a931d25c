"""Whether what a collector publishes is documented: its README metric row (read by
promql_checks.catalog, the one parser of those rows) names its type and labels."""

from __future__ import annotations

from promql_checks.catalog import readme_rows


def undocumented(scrape, prefixes: tuple[str, ...]) -> list[str]:
    """Families of the scrape with one of `prefixes` whose README row is missing or wrong."""
    rows = readme_rows()
    problems = []
    for family in scrape.families.values():
        if not family.name.startswith(prefixes):
            continue
        name = family.name + "_total" if family.type == "counter" else family.name
        kind = "untyped" if family.type == "unknown" else family.type  # the parser's name
        labels = {k for s in family.samples for k in s.labels} - {"le"}  # histogram buckets
        if rows.get(name, (None, None))[0] != kind or not labels <= rows[name][1]:
            problems.append(f"{name} {kind} {sorted(labels)}: README says {rows.get(name)}")
    return problems
