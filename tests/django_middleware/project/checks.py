"""Extra /health checks for the tests (PAINEL["HEALTH_CHECKS"])."""

import time


def search_index():
    """Always up."""


def hangs():
    time.sleep(1.5)


hangs.health_check_name = "slow_dependency"
