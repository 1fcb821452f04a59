"""keepalived's process model in ours: a watchdog parent with a VRRP child (and a checker child), each in its own
pid file; a SIGKILLed child is respawned, a SIGKILLed parent takes its children (and their VIPs) with it, and no
signal keepalived defines kills any of them at any moment of their life."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from netns_lab.daemons import (
    KEEPALIVED,
    Daemon,
    DaemonSpec,
    instance_block,
    keepalived_conf,
    run_daemon_cli,
    start_daemon,
    wait_vip_holders,
)
from netns_lab.lab import Lab
from netns_lab.waiting import wait_until
from pykeepalived.daemon.signals import SIGNALS, SigFunc
from pykeepalived.sigsafe import NEVER_FATAL

VIP = "10.0.0.100"
pytestmark = pytest.mark.lab


def _pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/status").exists() and "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()


def _pids(d: Daemon) -> tuple[int, int]:
    main = wait_until(lambda: _pid(d.pid_file), 10)
    vrrp = wait_until(lambda: _pid(d.vrrp_pid_file), 10)
    assert main and vrrp, d.log()
    return main, vrrp


def test_never_fatal_is_keepalived_signal_table() -> None:
    assert set(NEVER_FATAL) == {s.signum for s in SIGNALS if s.func is not SigFunc.STOP}


def test_parent_and_vrrp_child_with_keepalived_pid_files_and_log_lines(lab: Lab) -> None:
    lb1 = start_daemon(lab, DaemonSpec("lb1", keepalived_conf(instance_block(priority=150))))
    main, vrrp = _pids(lb1)
    assert main == lb1.pid and vrrp != main
    assert Path(f"/proc/{vrrp}/status").read_text().count(f"PPid:\t{main}\n") == 1
    assert not (lb1.checkers_pid_file).exists()  # no virtual_server: no checker child
    assert wait_vip_holders(lab, VIP, ["lb1"]) == ["lb1"], lb1.log()
    assert lb1.stop() == 0
    log = lb1.log()
    for line in ("Starting Keepalived v2.2.7 (01/16,2022)", f"Starting VRRP child process, pid={vrrp}",
                 "Stopped Keepalived v2.2.7 (01/16,2022)"):
        assert line in log, log
    assert not any(p.exists() for p in lb1.pid_files)
    assert wait_vip_holders(lab, VIP, []) == []


def test_sigkill_of_the_vrrp_child_respawns_it_and_the_peer_sees_rfc_behaviour(lab: Lab) -> None:
    lb1 = start_daemon(lab, DaemonSpec("lb1", keepalived_conf(instance_block(priority=150))))
    lb2 = start_daemon(lab, DaemonSpec("lb2", keepalived_conf(instance_block(priority=100)), impl="keepalived"))
    assert wait_vip_holders(lab, VIP, ["lb1"]) == ["lb1"], lb1.log()
    _, vrrp = _pids(lb1)
    os.kill(vrrp, signal.SIGKILL)
    # respawned at once: a new VRRP child, its pid in keepalived's pid file
    new = wait_until(lambda: (p := _pid(lb1.vrrp_pid_file)) not in (None, vrrp) and p, 5)
    assert new and _alive(new), lb1.log()
    assert f"Starting VRRP child process, pid={new}" in lb1.log()
    assert f"VRRP child process, pid {vrrp}, killed by signal 9" in lb1.log()
    # RFC 5798 6.4.3/6.4.2: the new child starts as Backup, the peer takes over after Master_Down_Interval
    # at the latest, and the higher-priority router preempts it back: in the end lb1 alone holds the VIP
    assert wait_until(lambda: "VRRP started" in lb1.log().split(f"pid={new}")[-1], 10), lb1.log()
    assert wait_vip_holders(lab, VIP, ["lb1"], timeout=10) == ["lb1"], lb1.log() + lb2.log()
    assert lb1.stop() == 0 and lb2.stop() == 0


def test_sigkill_of_the_parent_stops_the_children_and_leaves_no_vip(lab: Lab) -> None:
    lb1 = start_daemon(lab, DaemonSpec("lb1", keepalived_conf(instance_block(priority=150))))
    assert wait_vip_holders(lab, VIP, ["lb1"]) == ["lb1"], lb1.log()
    main, vrrp = _pids(lb1)
    os.kill(main, signal.SIGKILL)
    assert wait_until(lambda: not _alive(vrrp), 10), lb1.log()  # PR_SET_PDEATHSIG: SIGTERM, the clean stop
    assert wait_vip_holders(lab, VIP, []) == [], lb1.log()
    assert "removing VIPs." in lb1.log().split("Stopping")[-1]
    assert not (lb1.vrrp_pid_file).exists()  # the child removed its own file


def test_dont_respawn_stops_the_daemon_when_a_child_dies(lab: Lab) -> None:
    run = lab.log_dir / "norespawn"
    run.mkdir()
    conf = run / "k.conf"
    conf.write_text(keepalived_conf(instance_block(priority=150)))
    proc = lab.start("lb1", [sys.executable, "-m", "pykeepalived", "-n", "-l", "-R", "-P", "-f", str(conf),
                             "-p", str(run / "main.pid"), "-r", str(run / "vrrp.pid")],
                     name="norespawn")
    vrrp = wait_until(lambda: _pid(run / "vrrp.pid"), 10)
    assert vrrp and wait_until(lambda: "VRRP started" in proc.log_text(), 10), proc.log_text()
    os.kill(vrrp, signal.SIGKILL)
    assert proc.wait(10) == 1, proc.log_text()
    assert "not respawned (--dont-respawn)" in proc.log_text()
    assert not (run / "main.pid").exists()


def test_namespace_flag_runs_the_daemon_in_that_namespace(lab: Lab, tmp_path: Path) -> None:
    conf = tmp_path / "k.conf"
    conf.write_text(keepalived_conf(instance_block(priority=150)))
    # started in the root namespace: only -s puts it in lb1's
    p = subprocess.Popen([sys.executable, "-m", "pykeepalived", "-n", "-l", "-G", "-P", "-s", lab.netns("lb1"),
                          "-f", str(conf), "-p", str(tmp_path / "m.pid"), "-r", str(tmp_path / "v.pid")],
                         stdout=subprocess.DEVNULL, stderr=open(tmp_path / "log", "w"))  # noqa: SIM115
    try:
        assert wait_vip_holders(lab, VIP, ["lb1"]) == ["lb1"], (tmp_path / "log").read_text()
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(15) == 0
    assert wait_vip_holders(lab, VIP, []) == []


def test_namespace_flag_with_a_missing_namespace_is_an_error(tmp_path: Path) -> None:
    conf = tmp_path / "k.conf"
    conf.write_text(keepalived_conf(instance_block(interface="eth0")))
    cp = run_daemon_cli("-s", "cli-no-such-ns", "-f", str(conf), run_dir=tmp_path)
    assert cp.returncode == 1, cp.stderr
    assert "network namespace cli-no-such-ns: cannot open /run/netns/cli-no-such-ns" in cp.stderr
    assert "Traceback" not in cp.stderr and not (tmp_path / "m.pid").exists()


VS_ONLY = ("virtual_server 10.0.0.200 80 {\n  protocol TCP\n  lb_kind NAT\n"
           "  real_server 10.0.0.21 80 {\n    TCP_CHECK {\n      connect_timeout 1\n    }\n  }\n}\n")


@pytest.mark.skipif(not os.path.exists(KEEPALIVED), reason="keepalived 2.2.7 not installed")
def test_virtual_server_only_config_runs_the_checker_child_as_keepalived(tmp_path: Path) -> None:
    """No vrrp_instance: the checker child alone (no more "no vrrp_instance", exit 4).  This kernel has no IPVS,
    so, as keepalived 2.2.7 here, the checker child cannot initialise IPVS and the whole daemon terminates."""
    conf = tmp_path / "k.conf"
    conf.write_text(VS_ONLY)
    cp = run_daemon_cli("-f", str(conf), "-c", str(tmp_path / "c.pid"), run_dir=tmp_path)
    assert "Starting Healthcheck child process, pid=" in cp.stderr, cp.stderr
    assert "Starting VRRP child process" not in cp.stderr
    assert "IPVS: Can't initialize ipvs" in cp.stderr and "exited with permanent error FATAL" in cp.stderr
    assert "Traceback" not in cp.stderr and cp.returncode == 1
    ka = subprocess.run(["unshare", "--net", KEEPALIVED, "-n", "-l", "-G", "-f", str(conf), "-p",
                         str(tmp_path / "km.pid"), "-r", str(tmp_path / "kv.pid"), "-c", str(tmp_path / "kc.pid")],
                        capture_output=True, text=True, timeout=30, check=False)
    out = ka.stdout + ka.stderr
    assert "IPVS: Can't initialize ipvs" in out and "exited with permanent error FATAL" in out, out
    assert not list(tmp_path.glob("*.pid"))


@pytest.mark.parametrize("sig", NEVER_FATAL, ids=lambda s: signal.Signals(s).name if s in set(signal.Signals)
                         else f"SIG{s}")
def test_no_keepalived_signal_kills_it_at_any_moment(lab: Lab, sig: int) -> None:
    """From the moment the entry point's first line has run (SigIgn in /proc) through config reading, the
    children's start and the running daemon, ``sig`` is sent again and again to the parent and to each child as
    soon as it exists: nobody dies of it, and the daemon then stops cleanly."""
    lb1 = start_daemon(lab, DaemonSpec("lb1", keepalived_conf(instance_block(priority=150)), label=f"lb1-sig{sig}"))
    pid = lb1.pid
    assert pid is not None

    def protected() -> bool:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigIgn:"):
                return bool(int(line.split()[1], 16) & (1 << (sig - 1)))
        return False

    assert wait_until(protected, 10, 0.0005), lb1.log()
    start = time.monotonic()
    sent = 0
    for moment in (0, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1.2, 1.6, 2.0, 2.5, 3.0):
        time.sleep(max(0.0, start + moment - time.monotonic()))
        targets = [pid] + [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        for t in targets:
            try:
                os.kill(t, sig)
                sent += 1
            except ProcessLookupError:
                pass
    assert lb1.running(), lb1.log()
    assert sent > 17, sent  # the children were there for some of it
    assert wait_vip_holders(lab, VIP, ["lb1"]) == ["lb1"], lb1.log()
    assert lb1.stop() == 0, lb1.log()
    assert "killed by signal" not in lb1.log() and "Traceback" not in lb1.log(), lb1.log()


def test_sigkill_of_the_checker_child_respawns_it_and_spares_the_vrrp_child(lab: Lab) -> None:
    """``--all`` starts the checker child even without virtual servers (this kernel has no IPVS to give it):
    killing it restarts it and leaves the VRRP child, its pid and its VIP alone."""
    run = lab.log_dir / "all"
    run.mkdir()
    conf = run / "k.conf"
    conf.write_text(keepalived_conf(instance_block(priority=150)))
    proc = lab.start("lb1", [sys.executable, "-m", "pykeepalived", "-n", "-l", "--all", "-f", str(conf),
                             "-p", str(run / "main.pid"), "-r", str(run / "vrrp.pid"), "-c", str(run / "checkers.pid")],
                     name="all")
    try:
        checker = wait_until(lambda: _pid(run / "checkers.pid"), 10)
        vrrp = wait_until(lambda: _pid(run / "vrrp.pid"), 10)
        assert checker and vrrp, proc.log_text()
        assert wait_vip_holders(lab, VIP, ["lb1"]) == ["lb1"], proc.log_text()
        assert wait_until(lambda: Path(f"/proc/{checker}/cmdline").read_bytes().count(b"checker") > 0, 5)
        os.kill(checker, signal.SIGKILL)
        new = wait_until(lambda: (p := _pid(run / "checkers.pid")) not in (None, checker) and p, 5)
        assert new and _alive(new), proc.log_text()
        assert f"Starting Healthcheck child process, pid={new}" in proc.log_text()
        assert _pid(run / "vrrp.pid") == vrrp and _alive(vrrp)
        assert wait_vip_holders(lab, VIP, ["lb1"], timeout=1) == ["lb1"]
    finally:
        assert proc.stop(15) == 0, proc.log_text()
    assert not list(run.glob("*.pid"))
