#!/usr/bin/env bash
# Installs what painel's two commands need on a fresh Debian machine (run as root):
# Debian packages when missing, a virtual environment in .venv, painel with its dev extra.
# Sourced by scripts/test.sh and scripts/stack.sh; safe to run again (it only adds what is missing).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"

need_apt=()
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v prometheus >/dev/null || need_apt+=(prometheus)
command -v promtool >/dev/null || need_apt+=(prometheus)
command -v prometheus-alertmanager >/dev/null || need_apt+=(prometheus-alertmanager)
# the real exporters painel's compatibility test and benchmark compare against
command -v prometheus-node-exporter >/dev/null || need_apt+=(prometheus-node-exporter)
command -v prometheus-redis-exporter >/dev/null || need_apt+=(prometheus-redis-exporter)
# the long-term store of docs/scaling.md and its end-to-end test: victoria-metrics, vmalert
command -v victoria-metrics >/dev/null || need_apt+=(victoria-metrics)
command -v vmalert >/dev/null || need_apt+=(victoria-metrics)
# Debian's python3 leaves ensurepip (so pip in a new venv) to the python3-venv package.
if [ ! -x "$ROOT/.venv/bin/python" ] && ! "$PYTHON" -c "import ensurepip" 2>/dev/null; then
  need_apt+=(python3-venv)
fi
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "bootstrap: apt-get install ${need_apt[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # --no-install-recommends keeps Debian from pulling in and starting extra daemons.
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # Debian's packages start their own services on standard ports: painel starts its own on
  # free ports, so stop the services this script just installed, through the init system
  # (systemd, else the init script and its pidfile), never other processes by name.
  for pkg in "${need_apt[@]}"; do
    case "$pkg" in
      prometheus | prometheus-alertmanager | prometheus-node-exporter | prometheus-redis-exporter \
        | victoria-metrics)
        systemctl disable --now "$pkg" 2>/dev/null \
          || { service "$pkg" stop >/dev/null 2>&1; update-rc.d "$pkg" disable >/dev/null 2>&1; } \
          || true ;;
    esac
  done
fi

if [ ! -x "$ROOT/.venv/bin/python" ]; then
  "$PYTHON" -m venv "$ROOT/.venv"
fi
stamp="$ROOT/.venv/.painel-installed"
if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
  "$ROOT/.venv/bin/python" -m pip install -q --upgrade pip >/dev/null
  "$ROOT/.venv/bin/python" -m pip install -q -e "$ROOT[dev]"
  touch "$stamp"
fi
