#!/usr/bin/env bash
# The demo stack on this machine, no Docker: redis-server, the demo app under gunicorn,
# a Celery worker, painel-exporter, Alertmanager, Prometheus with painel's rules, and load.
# Prints where to look; Ctrl-C (or SIGTERM) stops everything.
#   bash scripts/stack.sh                 # until Ctrl-C
#   bash scripts/stack.sh --duration 60   # or PAINEL_STACK_DURATION=60: stop after a minute
#   bash scripts/stack.sh --help          # ports, load rate, work directory
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/bootstrap.sh
source "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
# exec: signals from the terminal or a supervisor go straight to the runner, which stops
# every process it started before it exits.
exec "$ROOT/.venv/bin/python" -m demo.stack "$@"
