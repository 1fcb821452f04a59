"""keepalived's process tuning for the VRRP process (global_defs ``vrrp_rt_priority``, ``vrrp_priority``,
``vrrp_no_swap``, ``vrrp_cpu_affinity``): applied to the running daemon, not inherited by the scripts it runs
(SCHED_RESET_ON_FORK, as keepalived), and bad values are a clear error naming the keyword."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from netns_lab.daemons import (
    DaemonSpec,
    instance_block,
    keepalived_conf,
    run_daemon_cli,
    start_daemon,
    wait_vip_holders,
)
from netns_lab.lab import Lab
from netns_lab.waiting import wait_until
from vrrp.io.realtime import ProcessSettings, ProcessSettingsError, parse_process_settings


def _sched(pid: int) -> dict[str, str]:
    """policy / prio / nice fields of /proc/PID/sched, and VmLck of /proc/PID/status."""
    out: dict[str, str] = {}
    for line in Path(f"/proc/{pid}/sched").read_text().splitlines():
        if ":" in line:
            k, v = (x.strip() for x in line.split(":", 1))
            out[k] = v
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    out["rt_priority"], out["policy_num"], out["nice"] = stat[37], stat[38], stat[16]
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmLck:"):
            out["VmLck_kB"] = line.split()[1]
    return out


@pytest.mark.lab
def test_realtime_options_apply_to_the_daemon_not_to_its_scripts(lab: Lab) -> None:
    marker = lab.log_dir / "notify-sched"
    script = lab.log_dir / "notify.sh"
    script.write_text(f"#!/bin/sh\ncat /proc/$$/stat > {marker}.tmp && mv {marker}.tmp {marker}\n")
    script.chmod(0o755)
    rt = ("  vrrp_rt_priority 20\n  vrrp_priority -5\n  vrrp_no_swap\n  vrrp_cpu_affinity 0\n"
          "  vrrp_rlimit_rttime 200000\n")
    conf = keepalived_conf(instance_block(priority=150, extra=f"  notify_master {script}\n"), global_extra=rt)
    lb1 = start_daemon(lab, DaemonSpec("lb1", conf))
    assert wait_vip_holders(lab, "10.0.0.100", ["lb1"]) == ["lb1"], lb1.log()
    pid = int((lb1.vrrp_pid_file).read_text())
    s = _sched(pid)
    assert (s["policy_num"], s["rt_priority"]) == ("2", "20"), s  # SCHED_RR, priority 20
    assert int(s["VmLck_kB"]) > 1000, s  # mlockall: the whole interpreter is locked in memory
    assert os.sched_getaffinity(pid) == {0}
    limits = Path(f"/proc/{pid}/limits").read_text()
    assert any(line.split()[-3:] == ["200000", "210000", "us"] for line in limits.splitlines()
               if line.startswith("Max realtime timeout")), limits
    assert "process scheduling: SCHED_RR priority 20, nice -5" in lb1.log()
    assert wait_until(marker.exists, 5), lb1.log()
    stat = marker.read_text().rsplit(")", 1)[1].split()
    assert (stat[38], stat[37]) == ("0", "0"), stat  # the notify script is an ordinary SCHED_OTHER process
    assert lb1.stop() == 0


@pytest.mark.lab
def test_a_normal_vrrp_process_runs_with_the_least_timer_slack(lab: Lab) -> None:
    """No realtime options: the VRRP child still asks for 1 ns of timer slack (the precise stage of a takeover is
    a nanosleep); the parent keeps the kernel's default.  (A SCHED_RR task has none at all.)"""
    lb1 = start_daemon(lab, DaemonSpec("lb1", keepalived_conf(instance_block(priority=150))))
    assert wait_vip_holders(lab, "10.0.0.100", ["lb1"]) == ["lb1"], lb1.log()
    child = int(lb1.vrrp_pid_file.read_text())
    assert Path(f"/proc/{child}/timerslack_ns").read_text().strip() == "1"
    assert Path(f"/proc/{lb1.pid}/timerslack_ns").read_text().strip() != "1"
    assert lb1.stop() == 0


def test_process_settings_are_parsed_with_ranges() -> None:
    ps = parse_process_settings([("vrrp_rt_priority", ("50",)), ("vrrp_no_swap", ()),
                                 ("vrrp_cpu_affinity", ("0", "1")), ("vrrp_rlimit_rttime", ("20000",))])
    assert ps == ProcessSettings(rt_priority=50, no_swap=True, cpu_affinity=(0, 1), rlimit_rttime_us=20000)
    assert parse_process_settings([]) == ProcessSettings()
    with pytest.raises(ProcessSettingsError, match=r"vrrp_rt_priority 100 is out of range \(1\.\.99\)"):
        parse_process_settings([("vrrp_rt_priority", ("100",))])
    with pytest.raises(ProcessSettingsError, match=r"vrrp_priority 'x' is not a number"):
        parse_process_settings([("vrrp_priority", ("x",))])


def test_bad_tuning_value_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    conf = tmp_path / "k.conf"
    conf.write_text(keepalived_conf(instance_block(interface="eth0"), global_extra="  vrrp_rt_priority 0\n"))
    cp = run_daemon_cli("-P", "-f", str(conf), run_dir=tmp_path)
    assert cp.returncode == 4, cp.stderr
    assert "vrrp_rt_priority 0 is out of range (1..99)" in cp.stderr and "Traceback" not in cp.stderr
