"""The LVS scenarios (``scenarios/`` files whose routers have virtual servers) run with our daemon, and with
keepalived 2.2.7 (interop), and meet their expectations (or are a declared known failure), in a kernel with
IPVS: the host's, or one User-Mode Linux instance the runner boots by itself.
A run inside UML interrupted by SIGINT or SIGTERM leaves no instance behind. Figures go to the test's output
(pytest -s): the clients' outage of the director pair, each real server's removal time beside its bound."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from netns_lab.runner import RunResult, run_scenario
from netns_lab.scenario import load_scenario

pytestmark = pytest.mark.kernel

ROOT = Path(__file__).resolve().parents[2]
OUTAGE = "real-server-outage.yaml"
LVS_SCENARIOS = sorted(p for p in (ROOT / "scenarios").glob("*.yaml") if load_scenario(p).needs_ipvs)


def check_lvs_run(result: RunResult) -> None:
    """What every LVS run must show besides its verdicts (ours and keepalived's alike)."""
    print(f"\n{result.summary()}\nkernel: {result.kernel}")
    for k, v in sorted(result.figures().items()):
        print(f"  {k} = {v:.3f}")
    assert result.kernel.split()[0] in ("uml", "host")
    assert result.history.ipvs, "no IPVS table was sampled"
    assert all(p.exists() for p in result.pictures) and len(result.pictures) == 2
    if result.scenario.name == "all-real-servers-down":  # quorum_down touched a file in the run directory
        assert (result.log_dir / "daemons" / f"lb1-{result.impl}" / "quorum-down").exists()
        assert any(r.server == "sorry" for r in result.history.requests)


def test_the_lvs_scenarios_are_the_shipped_three() -> None:
    assert {p.stem for p in LVS_SCENARIOS} >= {"director-pair", "real-server-outage", "all-real-servers-down"}


def run_and_check(path: Path, impl: str, tmp_path: Path) -> None:
    """One implementation on one LVS scenario: its expectations hold (or it is a declared known failure), and
    what every LVS run must show besides."""
    scenario = load_scenario(path)
    result = run_scenario(scenario, impl=impl, log_dir=tmp_path / "run")
    known = scenario.known_failure(impl)
    if known is not None and not result.ok:
        pytest.xfail(f"known failure: {known.reason}\n{result.summary()}")
    assert result.ok, result.summary()
    check_lvs_run(result)


@pytest.mark.parametrize("path", LVS_SCENARIOS, ids=[p.stem for p in LVS_SCENARIOS])
def test_lvs_scenario_passes_with_our_daemon(path: Path, tmp_path: Path) -> None:
    run_and_check(path, "pykeepalived", tmp_path)


@pytest.mark.interop
@pytest.mark.parametrize("path", LVS_SCENARIOS, ids=[p.stem for p in LVS_SCENARIOS])
def test_lvs_scenario_passes_with_keepalived(path: Path, tmp_path: Path) -> None:
    """The same files with keepalived 2.2.7 as the directors' daemon (VRRP and its checker process)."""
    run_and_check(path, "keepalived", tmp_path)


def _instances(pid: int) -> list[str]:
    marker = f"netns-lab-uml-{pid}-"
    return [
        f"{p.pid}: {' '.join(p.info['cmdline'])[:100]}"
        for p in psutil.process_iter(["cmdline", "status"])
        if p.info["status"] != psutil.STATUS_ZOMBIE and any(marker in a for a in p.info["cmdline"] or [])
    ]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_uml_run_leaves_no_instance(sig: signal.Signals, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "netns_lab.cli", "run", "--kernel", "uml", str(ROOT / "scenarios" / OUTAGE)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # a job started in the background of a shell inherits SIGINT ignored; the run must see it here
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    assert proc.stderr is not None
    seen = ""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and "uml [" not in seen:  # the guest's first progress line: it runs
        seen += proc.stderr.readline()
    assert "uml [" in seen, seen
    assert _instances(proc.pid), "no instance while the run was going on"
    proc.send_signal(sig)
    rc = proc.wait(60)
    assert rc == (130 if sig == signal.SIGINT else 128 + signal.SIGTERM), (rc, seen, proc.stderr.read())
    deadline = time.monotonic() + 15
    while _instances(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _instances(proc.pid) == []
