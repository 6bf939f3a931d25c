"""python -m prometheus.rules_generator [--config FILE] [--out DIR]"""

from __future__ import annotations

from collections.abc import Sequence

from mixin.cli import render_main
from prometheus.rules_generator.render import RULES_DIR, write_rule_files


def main(argv: Sequence[str] | None = None) -> None:
    render_main(
        "python -m prometheus.rules_generator",
        "Write painel's Prometheus rule files from a mixin configuration.",
        RULES_DIR,
        write_rule_files,
        argv,
    )


if __name__ == "__main__":
    main()
