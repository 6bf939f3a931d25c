"""Extra /health checks for the tests (PAINEL["HEALTH_CHECKS"])."""

import os
import time


def search_index():
    """Always up."""


def hangs():
    time.sleep(1.5)


hangs.health_check_name = "slow_dependency"


def countdown():
    """Fails as many more times as the number in PAINEL_TEST_FAILURES_FILE says (counting it
    down), then passes: a test scripts exactly how many health probes fail."""
    path = os.environ["PAINEL_TEST_FAILURES_FILE"]
    with open(path, "r+") as f:
        left = int(f.read() or 0)
        if left > 0:
            f.seek(0)
            f.truncate()
            f.write(str(left - 1))
            raise RuntimeError(f"failing {left} more times")
