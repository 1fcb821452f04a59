"""The dependency arrows of docs/architecture.md for checkers/: it imports neither vrrp, ipvs, pykeepalived nor
netns_lab,
and checkers/core imports nothing that does I/O (no asyncio, sockets, subprocess, threads, protocol clients)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "checkers"
FOREIGN = {"vrrp", "ipvs", "pykeepalived", "netns_lab"}
IO = {"asyncio", "socket", "ssl", "subprocess", "threading", "selectors", "pyroute2", "httpx", "dns", "icmplib",
      "aiosmtplib", "os"}


def imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


@pytest.mark.parametrize("path", sorted(ROOT.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_checkers_never_import_their_neighbours(path: Path) -> None:
    assert not imports(path) & FOREIGN


@pytest.mark.parametrize("path", sorted((ROOT / "core").rglob("*.py")), ids=lambda p: p.name)
def test_checkers_core_does_no_io(path: Path) -> None:
    assert not imports(path) & IO
