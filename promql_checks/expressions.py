"""Walking a PromQL expression (parsed by promql-parser): its selectors and range functions."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import promql_parser as promql

# Functions that take a counter's range vector and handle counter resets.
COUNTER_FUNCTIONS = frozenset({"rate", "irate", "increase"})


@dataclass(frozen=True)
class Selector:
    """A metric selector in an expression, and what it sits in."""

    name: str | None
    range_seconds: float | None  # the [range] when it is a range vector selector
    function: str | None  # the function taking that range vector, if any
    matchers: frozenset[str] = frozenset()  # its label matchers as written: job=~"a|b"


def _matchers(vector) -> frozenset[str]:
    return frozenset(str(m) for m in vector.matchers.matchers)


def _children(node) -> list:
    if isinstance(node, promql.MatrixSelector):
        return [node.vector_selector]
    if isinstance(node, promql.Call):
        return list(node.args)
    if isinstance(node, promql.BinaryExpr):
        return [node.lhs, node.rhs]
    if isinstance(node, promql.AggregateExpr):
        return [node.expr] + ([node.param] if node.param is not None else [])
    if isinstance(node, promql.ParenExpr | promql.UnaryExpr | promql.SubqueryExpr):
        return [node.expr]
    return []


def selectors(expr: str) -> Iterator[Selector]:
    """Every metric selector of `expr` (raises ValueError when `expr` does not parse)."""
    try:
        tree = promql.parse(expr)
    except Exception as exc:  # promql-parser raises a bare ValueError-like error type
        raise ValueError(f"does not parse: {exc}: {expr}") from exc
    yield from _walk(tree, None)


def _walk(node, function: str | None) -> Iterator[Selector]:
    if isinstance(node, promql.VectorSelector):
        yield Selector(node.name, None, None, _matchers(node))
        return
    if isinstance(node, promql.MatrixSelector):
        vector = node.vector_selector
        yield Selector(vector.name, node.range.total_seconds(), function, _matchers(vector))
        return
    inner_function = node.func.name if isinstance(node, promql.Call) else None
    for child in _children(node):
        yield from _walk(child, inner_function)


def metric_names(expr: str) -> set[str]:
    return {s.name for s in selectors(expr) if s.name}


# Functions that write a label (their 2nd argument) from others: label_replace(v, dst, repl,
# src, regex) and label_join(v, dst, separator, src...).
_LABEL_SOURCES = {"label_replace": slice(3, 4), "label_join": slice(3, None)}


def label_names(expr: str) -> tuple[set[str], set[str]]:
    """(labels `expr` reads, labels it writes): matchers, by/without, on/ignoring, group_x,
    label_replace()/label_join() sources on one side, their destinations on the other."""
    reads: set[str] = set()
    writes: set[str] = set()
    _collect_labels(promql.parse(expr), reads, writes)
    return reads - {"__name__"}, writes


def _collect_labels(node, reads: set[str], writes: set[str]) -> None:
    if isinstance(node, promql.VectorSelector):
        for group in [node.matchers.matchers, *node.matchers.or_matchers]:
            reads.update(m.name for m in group)
    elif isinstance(node, promql.AggregateExpr) and node.modifier is not None:
        reads.update(node.modifier.labels)
    elif isinstance(node, promql.BinaryExpr) and node.modifier is not None:
        if node.modifier.matching is not None:
            reads.update(node.modifier.matching.labels)
        reads.update(node.modifier.group_labels or [])
    elif isinstance(node, promql.Call) and node.func.name in _LABEL_SOURCES:
        writes.add(node.args[1].val)
        reads.update(arg.val for arg in node.args[_LABEL_SOURCES[node.func.name]] if arg.val)
    for child in _children(node):
        _collect_labels(child, reads, writes)


def unknown_labels(expr: str, labels_of: dict[str, set[str]]) -> set[str]:
    """Labels `expr` reads that none of the metrics it selects has nor it writes itself.

    `labels_of` maps a metric name to its labels; a metric missing from it (its labels are
    not known) makes any label acceptable. Misspelt labels matter: `x=~".*"` also matches a
    series without label x, so a query with a wrong label still returns data.
    """
    names = metric_names(expr)
    if not names or any(name not in labels_of for name in names):
        return set()
    reads, writes = label_names(expr)
    return reads - writes - set().union(*(labels_of[name] for name in names))
