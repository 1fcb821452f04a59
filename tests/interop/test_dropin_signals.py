"""Interop: our signal table against the installed keepalived's ``--signum=NAME`` answers."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from pykeepalived.daemon.signals import names, signum

pytestmark = pytest.mark.interop

KEEPALIVED = shutil.which("keepalived") or "/usr/sbin/keepalived"


def _theirs(name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KEEPALIVED, f"--signum={name}"], capture_output=True, text=True, timeout=10, check=False)


@pytest.mark.parametrize("name", names())
def test_signum_matches_keepalived(name: str) -> None:
    out = _theirs(name)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) == signum(name)


@pytest.mark.parametrize("name", ["TDUMP", "TDATA", "DUMP_CONFIG", "stop"])
def test_keepalived_refuses_what_we_refuse(name: str) -> None:
    out = _theirs(name)
    assert out.returncode != 0
    assert f"Unknown sigfunc {name}" in out.stderr + out.stdout
