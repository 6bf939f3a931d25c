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
        yield Selector(node.name, None, None)
        return
    if isinstance(node, promql.MatrixSelector):
        vector = node.vector_selector
        yield Selector(vector.name, node.range.total_seconds(), function)
        return
    inner_function = node.func.name if isinstance(node, promql.Call) else None
    for child in _children(node):
        yield from _walk(child, inner_function)


def metric_names(expr: str) -> set[str]:
    return {s.name for s in selectors(expr) if s.name}
