"""Flags and environment variables, validated once at start-up.

Every flag, the core ones here and those each collector module adds, can also come from
the environment as PAINEL_EXPORTER_<FLAG> (upper case, dashes and dots to underscores). A
flag on the command line wins over its variable; a repeatable flag takes a comma- or
newline-separated list from its variable. Anything wrong raises ConfigError with one line
that says what to fix; main() prints it and exits non-zero.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from exporter import collectors as registry
from exporter.collectors.base import Collector, CollectorModule, ConfigError
from exporter.credentials import remember_secret, scrub_known
from exporter.web.config import WebConfigFile
from painel import VERSION

ENV_PREFIX = "PAINEL_EXPORTER_"
DEFAULT_LISTEN = "0.0.0.0:9811"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_NO_ENV = {"help", "version"}  # actions, not settings


def seconds(text: str) -> float:
    """argparse type: a positive duration in seconds (shared by every collector's flags)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a positive number of seconds (like 15 or 0.5)"
        )
    return value


def seconds_or_zero(text: str) -> float:
    """argparse type: a duration in seconds, or 0 for none."""
    try:
        if float(text) == 0:
            return 0.0
    except ValueError:
        pass
    return seconds(text)


def env_name(option: str) -> str:
    """--redis-url -> PAINEL_EXPORTER_REDIS_URL, --path.rootfs -> PAINEL_EXPORTER_PATH_ROOTFS
    (node_exporter's dotted flags: a dot is no part of a shell variable's name)"""
    return ENV_PREFIX + re.sub(r"[-.]", "_", option.lstrip("-").upper())


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises ConfigError instead of printing usage and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigError(_without_values(message))


def _without_values(message: str) -> str:
    """argparse quotes unknown arguments whole; a mistyped --bearer_token=SECRET must not be.

    Only the unknown flags' names are kept: anything else may be a credential.
    """
    prefix = "unrecognized arguments: "
    if not message.startswith(prefix):
        return message
    tokens = message[len(prefix) :].split()
    flags = [t.partition("=")[0] for t in tokens if t.startswith("-")]
    if not flags:
        return "unexpected values on the command line (not shown); every value follows its flag"
    hidden = " (values not shown)" if " ".join(flags) != " ".join(tokens) else ""
    return f"{prefix}{' '.join(flags)}{hidden}; see --help for the flags"


@dataclass
class Settings:
    args: argparse.Namespace
    host: str
    port: int
    basic_auth: tuple[str, str] | None
    bearer_token: str | None
    web: WebConfigFile | None = None
    collectors: list[Collector] = field(default_factory=list)


def build_parser(modules: Sequence[CollectorModule]) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="painel-exporter",
        description="Publishes host, Redis, Celery, log, slow-request and health metrics "
        "for a Django app, under the names of the exporters people already run.",
        allow_abbrev=False,  # an abbreviation would hide a flag from its env variable
    )
    parser.add_argument("--version", action="version", version=f"painel-exporter {VERSION}")
    core = parser.add_argument_group("exporter")
    core.add_argument(
        "--listen",
        default=DEFAULT_LISTEN,
        metavar="HOST:PORT",
        help="address to serve / and /metrics on (default %(default)s)",
    )
    core.add_argument(
        "--collectors",
        metavar="LIST",
        help="comma-separated collectors to run, from: "
        + ", ".join(m.NAME for m in modules)
        + " (default: system plus every collector that has a target)",
    )
    core.add_argument(
        "--interval",
        type=seconds,
        default=15.0,
        metavar="SECONDS",
        help="period of background probes, such as health checks (default %(default)s)",
    )
    core.add_argument(
        "--scrape-timeout",
        type=seconds,
        default=0.8,
        metavar="SECONDS",
        help="a collector that takes longer is reported failed for that scrape, so "
        "/metrics always answers in time (default %(default)s)",
    )
    core.add_argument(
        "--max-scrape-interval",
        type=seconds_or_zero,
        default=60.0,
        metavar="SECONDS",
        help="the longest interval at which any Prometheus scrapes this exporter: a new "
        "counter or histogram series reads 0 for that long after its first scrape, so "
        "rate() and increase() count its first events; 0 turns this off (default %(default)s)",
    )
    core.add_argument(
        "--basic-auth",
        metavar="USER:PASSWORD",
        help="require HTTP basic auth on / and /metrics",
    )
    core.add_argument(
        "--bearer-token",
        metavar="TOKEN",
        help="require 'Authorization: Bearer TOKEN' on / and /metrics "
        "(with --basic-auth, either is accepted)",
    )
    core.add_argument(
        "--web.config.file",
        dest="web_config_file",
        metavar="PATH",
        help="TLS and bcrypt basic auth in the exporter-toolkit format that node_exporter "
        "and redis_exporter read; re-read when it or its certificates change",
    )
    core.add_argument(
        "--log-level",
        default="info",
        type=str.lower,  # INFO as Python's logging spells it works too
        choices=["debug", "info", "warning", "error"],
        help="(default %(default)s)",
    )
    for module in modules:
        module.add_flags(parser.add_argument_group(f"{module.NAME} collector"))
    for action in parser._actions:
        option = _long_option(action)
        if option and action.dest not in _NO_ENV:
            action.help = f"{action.help or ''} [env {env_name(option)}]".strip()
    return parser


def _long_option(action: argparse.Action) -> str | None:
    return next((o for o in action.option_strings if o.startswith("--")), None)


def _env_argv(
    parser: argparse.ArgumentParser, argv: Sequence[str], environ: Mapping[str, str]
) -> tuple[list[str], dict[str, str]]:
    """Command-line tokens for the flags set only in the environment, and their sources."""
    tokens: list[str] = []
    sources: dict[str, str] = {}
    for action in parser._actions:
        option = _long_option(action)
        if option is None or action.dest in _NO_ENV:
            continue
        name = env_name(option)
        if name not in environ:
            continue
        if any(a == o or a.startswith(o + "=") for a in argv for o in action.option_strings):
            continue  # the command line wins
        raw = environ[name]
        sources[option] = name
        if action.nargs == 0:  # store_true and friends
            if raw.strip().lower() in _TRUE:
                tokens.append(option)
            elif raw.strip().lower() not in _FALSE:
                raise ConfigError(f"{name}={raw!r}: use 1/true/yes or 0/false/no")
        elif isinstance(action, argparse._AppendAction):
            for item in re.split(r"[,\n]", raw):
                if item.strip():
                    tokens.append(f"{option}={item.strip()}")
        else:
            tokens.append(f"{option}={raw}")
    return tokens, sources


def parse_listen(value: str) -> tuple[str, int]:
    """HOST:PORT, [IPv6]:PORT or :PORT (all interfaces)."""
    match = re.fullmatch(r"(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:]*)):(?P<port>\d{1,5})", value)
    if match is None or int(match["port"]) > 65535:
        raise ConfigError(f"--listen {value!r}: use HOST:PORT, like 0.0.0.0:9811 or [::]:9811")
    host = match["v6"] or match["host"] or "0.0.0.0"
    return host, int(match["port"])


def _parse_credentials(value: str | None) -> tuple[str, str] | None:
    if value is None:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        # never echo the value: it is a password
        raise ConfigError("--basic-auth: use USER:PASSWORD, both non-empty")
    remember_secret(password)  # scrubbed from every log record and the landing page
    return user, password


def _select(modules: Sequence[CollectorModule], args: argparse.Namespace) -> list[CollectorModule]:
    by_name = {m.NAME: m for m in modules}
    if args.collectors is None:
        return [m for m in modules if m.NAME == "system" or m.has_target(args)]
    names = [n.strip() for n in args.collectors.split(",") if n.strip()]
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ConfigError(
            f"--collectors: unknown collector {unknown[0]!r}; choose from {', '.join(by_name)}"
        )
    if not names:
        raise ConfigError("--collectors: name at least one collector, like system")
    for name in names:
        if not by_name[name].has_target(args):
            raise ConfigError(
                f"--collectors {name}: it has nothing to watch; give it a target "
                f"(see the '{name} collector' flags in --help)"
            )
    return [m for m in modules if m.NAME in names]  # registry order, each once


def load(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Parse, validate and build the collectors; raises ConfigError, or SystemExit for --help."""
    argv = list(argv) if argv is not None else sys.argv[1:]
    environ = os.environ if environ is None else environ
    modules = registry.modules()
    parser = build_parser(modules)
    env_tokens, sources = _env_argv(parser, argv, environ)
    try:
        return _settings(parser, modules, parser.parse_args(env_tokens + argv))
    except ConfigError as exc:
        raise ConfigError(_name_source(str(exc), sources)) from None


def _settings(
    parser: argparse.ArgumentParser, modules: Sequence[CollectorModule], args: argparse.Namespace
) -> Settings:
    host, port = parse_listen(args.listen)
    settings = Settings(
        args=args,
        host=host,
        port=port,
        basic_auth=_parse_credentials(args.basic_auth),
        bearer_token=args.bearer_token or None,
    )
    remember_secret(settings.bearer_token or "")  # likewise
    if args.web_config_file:
        settings.web = WebConfigFile(args.web_config_file)
    for module in _select(modules, args):
        try:
            settings.collectors.extend(module.build(args))
        except ConfigError:
            raise
        except (ValueError, OSError) as exc:
            # a library's own check (a URL parser's, a file's) that the module did not
            # word: still one line, still without a secret, still pointing at the flags
            flags = ", ".join(_flags_set(parser, module, args)) or f"the {module.NAME} flags"
            raise ConfigError(
                f"{flags}: {scrub_known(str(exc))} "
                f"(see the '{module.NAME} collector' flags in --help)"
            ) from None
    return settings


def _flags_set(
    parser: argparse.ArgumentParser, module: CollectorModule, args: argparse.Namespace
) -> list[str]:
    """The module's flags given a value other than their default."""
    title = f"{module.NAME} collector"
    group = next((g for g in parser._action_groups if g.title == title), None)
    actions = group._group_actions if group else []
    return [
        option
        for action in actions
        if (option := _long_option(action)) and getattr(args, action.dest) != action.default
    ]


def _name_source(message: str, sources: Mapping[str, str]) -> str:
    """Point at the environment variable when the bad value came from one."""
    # argparse's "argument --flag: ..." or our own "--flag value: ..."
    match = re.match(r"(?:argument )?(--[\w.-]+)", message)
    if match and match[1] in sources:
        return f"{message} (set by {sources[match[1]]})"
    return message
