"""The README and docs/ as a reader follows them: links that lead somewhere, the set-up first."""

from __future__ import annotations

import re

import pytest

from local_services.paths import REPO_ROOT
from tests.support.markdown import anchors, links, prose_lines

README = REPO_ROOT / "README.md"
DOCUMENTS = [README, *sorted((REPO_ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_every_relative_link_reaches_a_file_and_a_heading(document):
    broken = []
    for target in links(document.read_text()):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        linked = (document.parent / path).resolve() if path else document
        if not linked.exists():
            broken.append(f"{target}: no file {linked}")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked.read_text()):
            broken.append(f"{target}: no such heading in {linked.name}")
    assert broken == []


def test_the_first_commands_are_the_two_set_up_commands():
    text = README.read_text()
    first_block = text.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()]
    assert commands == ["bash scripts/stack.sh", "bash scripts/test.sh"]
    assert "```" not in text.split("```sh\n", 1)[0]  # no other block before them


def test_markdown_helpers_skip_code_blocks():
    text = "# Title\n```sh\n# not a heading\n[x](nowhere.md)\n```\n## Title\n[y](docs/a.md#b)\n"
    assert list(prose_lines(text)) == ["# Title", "## Title", "[y](docs/a.md#b)"]
    assert anchors(text) == {"title", "title-1"}
    assert links(text) == ["docs/a.md#b"]
