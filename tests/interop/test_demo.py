"""The demo with real keepalived: a failover measured on the wire lies near Master_Down_Interval (run_demo), and
the demo command (netns-lab compare of the master-crash scenario) leaves nothing running behind (namespaces,
keepalived processes, the run's state), also when interrupted."""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from netns_lab import cleanup
from netns_lab.demo import main, run_demo
from netns_lab.measure import masters


def _namespaces(prefix: str) -> list[str]:
    netns_dir = Path("/run/netns")
    return sorted(p.name for p in netns_dir.glob(f"{prefix}-*")) if netns_dir.exists() else []


def _processes_mentioning(text: str) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        if p.info["status"] != psutil.STATUS_ZOMBIE and any(text in a for a in p.info["cmdline"] or []):
            found.append(p)
    return found


@pytest.mark.interop
@pytest.mark.parametrize("impl", ["pykeepalived", "keepalived"])
def test_demo_measures_a_failover_near_master_down_interval(impl: str) -> None:
    result = run_demo(impl=impl, vrrp_version=3, advert_int=0.1, out=None)
    assert result.impl == impl
    f = result.failover
    assert f is not None
    assert (result.old_master, result.new_master, result.vip_holder) == ("lb1", "lb2", "lb2")
    assert (f.old_master, f.new_master, f.version, f.new_priority) == ("10.0.0.11", "10.0.0.12", 3, 100)
    assert f.interval == pytest.approx(0.1)
    assert f.master_down_interval == pytest.approx(3 * 0.1 + (256 - 100) * 0.1 / 256)
    assert f.master_down_interval - f.interval <= f.gap <= f.master_down_interval + f.interval, result.to_json()
    assert result.old_master_adverts_after_kill == 0
    # The capture sees each advert once (no copy per bridge port), at the advertised pace.
    paced = [span for span in masters(result.adverts, 51) if span.count > 1]
    assert paced, result.to_json()  # otherwise the pace check below would check nothing
    for span in paced:
        pace = (span.last - span.first) / (span.count - 1)
        assert pace == pytest.approx(0.1, abs=0.02), span
    assert all(a.ttl == 255 and a.dst == "224.0.0.18" for a in result.adverts)
    assert result.bad_packets == 0
    # nothing left behind
    assert result.prefix and not _namespaces(result.prefix)
    assert result.log_dir and not Path(result.log_dir).exists()
    assert not _processes_mentioning(result.log_dir)


def _processes_in(netns: str) -> list[psutil.Process]:
    """Live processes inside network namespace ``netns``."""
    found = []
    for pid in cleanup.netns_pids([netns]):
        with contextlib.suppress(psutil.Error):
            found.append(psutil.Process(pid))
    return found


@pytest.mark.interop
def test_ctrl_c_tears_the_demo_down() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "netns_lab.demo", "--vrrp-version", "3", "--advert-int", "0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    prefix = ""
    log_dir: Path | None = None
    lines: list[str] = []
    daemons: list[psutil.Process] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if m := re.search(r"lab (\w+) built", line):
                prefix = m.group(1)
            if m := re.search(r"logs in (\S+)", line):
                log_dir = Path(m.group(1))
            if "settled:" in line:  # keepalived runs, advertises and holds the VIP
                break
        assert prefix and log_dir and log_dir.is_dir(), "".join(lines)
        assert _namespaces(prefix), "the lab should exist before the interrupt"
        daemons = _processes_in(f"{prefix}-lb1") + _processes_in(f"{prefix}-lb2")
        assert daemons, "keepalived should run before the interrupt"
    finally:
        # Interrupt even when an assertion above failed: a SIGKILLed demo could not tear its lab down.
        proc.send_signal(signal.SIGINT)
        try:
            rest, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            rest, _ = proc.communicate()
            if prefix:  # a SIGKILLed demo cannot tear down: remove its dead run (namespaces, daemons)
                cleanup.clean([prefix])
    assert proc.returncode == 130, "".join(lines) + rest
    assert "interrupted" in rest
    assert not _namespaces(prefix)
    assert not (cleanup.STATE_DIR / f"{prefix}.json").exists()  # the run is over (its logs are kept, as run's)
    assert not [p for p in daemons if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    shutil.rmtree(log_dir, ignore_errors=True)


def test_bad_flags_get_a_clear_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--vrrp-version", "2", "--advert-int", "0.5"]) == 1
    assert "--advert-int 0.5: VRRPv2 needs whole seconds" in capsys.readouterr().err
    assert main(["--vrrp-version", "3", "--advert-int", "0.015"]) == 1
    assert "steps of 0.01 s" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["--vrrp-version", "4"])
    assert info.value.code == 2
