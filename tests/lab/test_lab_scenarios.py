"""Every shipped scenario runs with our daemon and meets its expectations (or is a declared known failure),
and no run, finished or interrupted, leaves a namespace, a process or a state file behind."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from netns_lab.cleanup import NETNS_DIR, STATE_DIR
from netns_lab.runner import run_scenario
from netns_lab.scenario import load_scenario
from netns_lab.uml import host_has_ipvs

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]
#: the VRRP scenarios (the LVS ones need IPVS and run in the kernel tier: tests/kernel/test_lvs_scenarios.py)
SCENARIOS = sorted(p for p in (ROOT / "scenarios").glob("*.yaml") if not load_scenario(p).needs_ipvs)


def _leftovers(prefix: str) -> list[str]:
    found = [p.name for p in NETNS_DIR.glob(f"{prefix}-*")]
    found += [p.name for p in STATE_DIR.glob(f"{prefix}.json")]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if f"/{prefix}/" in cmd or f" {prefix}-" in cmd:
                found.append(f"pid {entry.name}: {cmd[:120]}")
    return found


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_shipped_scenario_passes_with_our_daemon(path: Path, tmp_path: Path) -> None:
    scenario = load_scenario(path)
    result = run_scenario(scenario, impl="pykeepalived", log_dir=tmp_path / "run")
    assert _leftovers(result.prefix) == []
    assert all(p.exists() for p in result.pictures)
    known = scenario.known_failure("pykeepalived")
    if known is not None and not result.ok:
        pytest.xfail(f"known failure: {known.reason}\n{result.summary()}")
    assert result.ok, result.summary()


def test_an_interrupted_run_leaves_nothing(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "netns_lab.cli", "run", str(ROOT / "scenarios" / "split-brain.yaml")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    prefix = None
    deadline = time.monotonic() + 60
    seen = ""
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        seen += line
        m = re.search(r"lab ((?:nl|w\d+)[0-9a-f]{4}) built", line)  # w<N>...: a pytest-xdist worker's prefix
        prefix = prefix or (m.group(1) if m else None)
        if "fault at" in line:  # the partition is in force: nft rules, daemons, clients all running
            break
    assert prefix is not None, seen
    os.kill(proc.pid, signal.SIGINT)
    rc = proc.wait(30)
    assert rc == 130, (rc, seen, proc.stderr.read())
    assert _leftovers(prefix) == []
    shutil.rmtree(Path(tempfile.gettempdir()) / "netns_lab" / prefix, ignore_errors=True)  # its logs


def test_run_cli_refuses_what_it_cannot_honour(tmp_path: Path) -> None:
    if not host_has_ipvs():  # an IPVS scenario on a host kernel without IPVS: refused, with the way out
        lvs = str(ROOT / "scenarios/real-server-outage.yaml")
        cp = subprocess.run([sys.executable, "-m", "netns_lab.cli", "run", "--kernel", "host", lvs],
                            capture_output=True, text=True, check=False)  # fmt: skip
        assert cp.returncode == 3 and "needs IPVS" in cp.stderr and "--kernel uml" in cp.stderr, cp.stderr
        assert "Traceback" not in cp.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nrouters: {}\n")
    cp = subprocess.run([sys.executable, "-m", "netns_lab.cli", "run", str(bad)], capture_output=True, text=True)
    assert cp.returncode == 2 and f"{bad}:2: routers" in cp.stderr and "Traceback" not in cp.stderr
