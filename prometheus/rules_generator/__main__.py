"""python -m prometheus.rules_generator [--config FILE] [--out DIR]"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from mixin.config import ConfigError, MixinConfig, load_config
from prometheus.rules_generator.render import RULES_DIR, write_rule_files


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m prometheus.rules_generator",
        description="Write painel's Prometheus rule files from a mixin configuration.",
    )
    parser.add_argument("--config", type=Path, help="a YAML file of mixin/config.py's keys")
    parser.add_argument(
        "--out", type=Path, default=RULES_DIR, help="directory to write (default %(default)s)"
    )
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config) if args.config else MixinConfig()
    except ConfigError as exc:
        parser.error(str(exc))
    for path in write_rule_files(config, args.out):
        print(path)


if __name__ == "__main__":
    main()
