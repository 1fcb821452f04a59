"""The project's static checks, run as tests so that the README's single test command (and CI) enforces them:
ruff over the whole tree, and ``mypy --strict`` over the typed packages (vrrp/, ipvs/, checkers/)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    argv_full = [sys.executable, "-m", *argv]
    return subprocess.run(argv_full, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_is_clean() -> None:
    res = _run("ruff", "check", "--no-cache", ".")
    assert res.returncode == 0, res.stdout + res.stderr


def test_mypy_strict_is_clean_on_typed_packages() -> None:
    res = _run("mypy", "--no-incremental")
    assert res.returncode == 0, res.stdout + res.stderr
