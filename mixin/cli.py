"""The command line every renderer of the mixin config shares: `--config FILE --out DIR`."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from mixin.config import ConfigError, MixinConfig, load_config


def render_main(
    prog: str,
    description: str,
    default_out: Path,
    write: Callable[[MixinConfig, Path], Iterable[Path]],
    argv: Sequence[str] | None = None,
) -> None:
    """Parse the two options, load the config (a bad one exits with its message) and print
    each file `write(config, out_dir)` wrote."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--config", type=Path, help="a YAML file of mixin/config.py's keys")
    parser.add_argument(
        "--out", type=Path, default=default_out, help="directory to write (default %(default)s)"
    )
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config) if args.config else MixinConfig()
    except ConfigError as exc:
        parser.error(str(exc))
    for path in write(config, args.out):
        print(path)
