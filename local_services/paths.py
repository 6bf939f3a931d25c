"""Where the repository is: the working directory and import root of the processes started."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
