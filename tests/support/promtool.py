"""promtool, Debian's `prometheus` package: checks, unit tests and Prometheus' own PromQL engine.

scripts/bootstrap.sh installs it; a missing promtool fails the tests that need it (a skip
would let the suite pass without ever checking a rule).
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from local_services.paths import REPO_ROOT


def promtool(*args: str) -> subprocess.CompletedProcess:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool is not installed: run `bash scripts/bootstrap.sh`")
    return subprocess.run(
        [binary, *args], capture_output=True, text=True, timeout=120, cwd=REPO_ROOT, check=False
    )
