"""Script security in the running daemon (keepalived's ``enable_script_security``): the daemon runs exactly the
scripts ``-t`` accepts, as the user ``-t`` names.  A script a non-root user could change, or one no
unprivileged user can be set for (no ``script_user``, no ``keepalived_script`` account), is disabled and
logged, never run as root (keepalived.conf(5), ``enable_script_security``)."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from netns_lab.daemons import DaemonSpec, instance_block, keepalived_conf, start_daemon, wait_vip_holders
from netns_lab.lab import Lab
from netns_lab.waiting import wait_until
from vrrp.io.scripts import user_exists

pytestmark = pytest.mark.lab


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """A directory straight under /tmp (pytest's own sits in a root-only 0700 tree no script user can enter)."""
    path = Path(tempfile.mkdtemp(prefix="pyka-scriptsec-"))
    try:
        path.chmod(0o755)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _script(directory: Path, marker: Path, mode: int) -> Path:
    path = directory / "mark.sh"
    path.write_text(f"#!/bin/sh\ntouch {marker}-$1\nexit 0\n")
    path.chmod(mode)
    return path


def _conf(script: Path, global_extra: str) -> str:
    extra = (f"  notify_master \"{script} master\"\n  track_script {{\n    chk\n  }}\n")
    return keepalived_conf(
        f"vrrp_script chk {{\n  script \"{script} track\"\n  interval 1\n}}\n"
        f"vrrp_sync_group G1 {{\n  group {{\n    VI_1\n  }}\n  notify_master \"{script} group\"\n}}\n"
        + instance_block(priority=150, extra=extra),
        global_extra=global_extra,
    )


def _check(lab: Lab, conf: Path) -> str:
    """``pykeepalived -t`` in lb1's namespace (where eth0 exists): its whole report."""
    cp = lab.exec("lb1", [sys.executable, "-m", "pykeepalived.daemon", "-t", "-f", str(conf)], check=False)
    return cp.stdout + cp.stderr


@pytest.mark.parametrize("case", ["world-writable", "no-user"])
def test_script_refused_by_t_is_not_run_by_the_daemon(lab: Lab, tmp_path: Path, case: str) -> None:
    if case == "no-user" and user_exists("keepalived_script"):
        pytest.skip("the keepalived_script account exists here: the default user is set")
    marker = tmp_path / "ran"
    if case == "world-writable":
        script = _script(tmp_path, marker, 0o777)  # anyone may rewrite what root would run
        global_extra = "  enable_script_security\n  script_user root\n"
    else:
        script = _script(tmp_path, marker, 0o755)  # safe file, but no unprivileged user to run it as
        global_extra = "  enable_script_security\n"
    assert stat.S_IMODE(script.stat().st_mode) & stat.S_IWOTH == (stat.S_IWOTH if case == "world-writable" else 0)
    conf = tmp_path / "keepalived.conf"
    conf.write_text(_conf(script, global_extra))
    report = _check(lab, conf)
    assert "vrrp_script chk" in report and "notify_master" in report, report  # -t says both are disabled

    lb1 = start_daemon(lab, DaemonSpec("lb1", conf.read_text()))
    assert wait_vip_holders(lab, "10.0.0.100", ["lb1"]) == ["lb1"], lb1.log()
    time.sleep(1.5)  # a tracker would have run (interval 1), the notify scripts at once
    ran = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("ran-"))
    log = lb1.log()
    assert lb1.stop() == 0
    assert ran == [], (ran, log)
    assert "vrrp_script chk" in log and "disabling" in log, log
    for what in ("(VI_1) notify_master", "vrrp_sync_group G1 notify_master"):
        assert what in log, (what, log)


def test_safe_script_with_a_named_user_runs_as_that_user(lab: Lab, tmp_path: Path) -> None:
    """The positive side: what -t accepts runs, as the user it names (nobody here, not root)."""
    marker = tmp_path / "ran"
    script = _script(tmp_path, marker, 0o755)
    os.chmod(tmp_path, 0o777 | stat.S_ISVTX)  # nobody may create the marker; a sticky dir is still safe
    conf = tmp_path / "keepalived.conf"
    conf.write_text(_conf(script, "  enable_script_security\n  script_user nobody\n"))
    report = _check(lab, conf)
    assert "Disabling" not in report and "Unable to set" not in report, report
    lb1 = start_daemon(lab, DaemonSpec("lb1", conf.read_text()))
    try:
        assert wait_vip_holders(lab, "10.0.0.100", ["lb1"]) == ["lb1"], lb1.log()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not (tmp_path / "ran-master").exists():
            time.sleep(0.05)
        assert (tmp_path / "ran-master").exists(), lb1.log()
        assert (tmp_path / "ran-master").stat().st_uid == pwd.getpwnam("nobody").pw_uid
    finally:
        lb1.stop()


def test_a_reload_checks_the_scripts_it_brings_in(lab: Lab, tmp_path: Path) -> None:
    """Script security holds across SIGHUP: a ``vrrp_sync_group`` notify script that a reload adds is checked as
    at start, logged and disabled when refused, and never run (the reload once took a group's scripts
    unchecked, so root ran a world-writable script on the group's next transition)."""
    marker = tmp_path / "ran"
    script = _script(tmp_path, marker, 0o777)  # anyone may rewrite what root would run
    global_extra = "  enable_script_security\n  script_user root\n"
    group = f"vrrp_sync_group G1 {{\n  group {{\n    VI_1\n  }}\n  notify_master \"{script} group\"\n}}\n"
    lb1 = start_daemon(lab, DaemonSpec("lb1", keepalived_conf(instance_block(priority=150))))
    lb2 = start_daemon(lab, DaemonSpec("lb2", keepalived_conf(instance_block(priority=100),
                                                              global_extra=global_extra)))
    try:
        assert wait_vip_holders(lab, "10.0.0.100", ["lb1"]) == ["lb1"], lb1.log()
        lb2.write_config(keepalived_conf(group, instance_block(priority=100), global_extra=global_extra))
        lb2.reload()
        assert wait_until(lambda: "Reload complete" in lb2.log(), 10), lb2.log()
        assert lb1.stop() == 0  # lb2 takes over: G1 enters MASTER, where its notify_master would run
        assert wait_vip_holders(lab, "10.0.0.100", ["lb2"]) == ["lb2"], lb2.log()
        assert wait_until(lambda: "VRRP_Group(G1) Syncing instances to MASTER state" in lb2.log(), 5), lb2.log()
        time.sleep(1.0)  # a notify script would have run at once
        ran = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("ran-"))
        log = lb2.log()
        assert ran == [], (ran, log)
        assert "vrrp_sync_group G1 notify_master" in log and "disabling" in log, log
    finally:
        lb2.stop()
        lb1.stop()
