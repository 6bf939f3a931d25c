"""Markdown as GitHub renders it: heading anchors and relative links, for the docs' tests."""

from __future__ import annotations

import re
from collections.abc import Iterator

# [text](target): inline links; images too. Autolinks and reference links are not used here.
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^\s*(```|~~~)")


def github_anchor(heading: str) -> str:
    """The id GitHub gives a heading: lower case, punctuation dropped, spaces to dashes."""
    anchor = heading.strip().lower()
    anchor = re.sub(r"[^\w\- ]", "", anchor)
    return anchor.replace(" ", "-")


def prose_lines(text: str) -> Iterator[str]:
    """The lines outside fenced code blocks (a `# comment` in a shell block is no heading)."""
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            yield line


def anchors(text: str) -> set[str]:
    """Every heading's anchor; a repeated heading gets `-1`, `-2`... as on GitHub."""
    found: set[str] = set()
    for line in prose_lines(text):
        if match := re.match(r"#{1,6} (.+)", line):
            anchor = base = github_anchor(match[1])
            n = 0
            while anchor in found:
                n += 1
                anchor = f"{base}-{n}"
            found.add(anchor)
    return found


def links(text: str) -> list[str]:
    """The targets of the inline links outside code blocks."""
    return [target for line in prose_lines(text) for target in _LINK.findall(line)]
