"""netns_lab.daemons and netns_lab.lab_history without a lab: command lines, per-run files, log parsing, config
labelling, and the capture's refusal to hand out frames it did not keep."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from netns_lab.capture import Capture, CaptureError
from netns_lab.daemons import (
    KEEPALIVED,
    Daemon,
    DaemonSpec,
    instance_block,
    keepalived_conf,
    parse_transitions,
)
from netns_lab.lab_history import configured_instances

OURS_LOG = """\
# 04:10:57 start in lb1 (nl1-lb1): ['pykeepalived', '-n']
Fri Dec 04 04:10:57.123: Starting pykeepalived VRRP process (pid 7), config /x/keepalived.conf
Fri Dec 04 04:10:57.130: (VI_1) transition reason: startup
Fri Dec 04 04:10:57.130: (VI_1) Entering BACKUP STATE (init)
Fri Dec 04 04:10:57.135: VRRP started: 1 instance(s)
Fri Dec 04 04:10:57.800: (VI_1) Receive advertisement timeout
Fri Dec 04 04:10:57.800: (VI_1) transition reason: master_no_response
Fri Dec 04 04:10:57.800: (VI_1) Entering MASTER STATE
Fri Dec 04 04:10:57.801: (VI_1) setting VIPs.
Fri Dec 04 04:10:59.001: (VI_1) Changing effective priority from 250 to 150
Fri Dec 04 04:10:59.700: (VI_1) transition reason: priority
Fri Dec 04 04:10:59.700: (VI_1) Entering BACKUP STATE
"""

#: the form before ours spoke keepalived's words (the reason in brackets): still read
OURS_OLD_LOG = """\
Fri Dec 04 04:10:57.130: (VI_1) Entering BACKUP STATE (startup)
Fri Dec 04 04:10:57.800: (VI_1) Entering MASTER STATE (master_no_response)
"""

KEEPALIVED_LOG = """\
Fri Dec  4 04:10:42 2026: Starting Keepalived v2.2.7 (01/16,2022)
Fri Dec  4 04:10:42 2026: (VI_1) Entering BACKUP STATE (init)
Fri Dec  4 04:10:43 2026: (VI_1) Entering MASTER STATE
Fri Dec  4 04:10:44 2026: (VI_1) Entering FAULT STATE
"""


def _daemon(tmp_path: Path, impl: str) -> Daemon:
    spec = DaemonSpec("lb1", keepalived_conf(instance_block()), impl=cast(Any, impl))
    return Daemon(cast(Any, None), spec, tmp_path / f"lb1-{impl}")


def test_both_logs_parse_to_the_same_transitions() -> None:
    ours, prios = parse_transitions(OURS_LOG)
    assert [(t.instance, t.state, t.reason) for t in ours] == [
        ("VI_1", "BACKUP", "startup"), ("VI_1", "MASTER", "master_no_response"), ("VI_1", "BACKUP", "priority")]
    assert round(ours[1].t - ours[0].t, 3) == 0.67  # milliseconds kept
    assert [(p.old, p.new) for p in prios] == [(250, 150)]
    ka, _ = parse_transitions(KEEPALIVED_LOG)
    assert [(t.state, t.reason) for t in ka] == [("BACKUP", "init"), ("MASTER", ""), ("FAULT", "")]
    assert ka[2].t - ka[0].t == 2.0
    old, _ = parse_transitions(OURS_OLD_LOG)
    assert [(t.state, t.reason) for t in old] == [("BACKUP", "startup"), ("MASTER", "master_no_response")]


def test_command_lines_keep_every_file_in_the_run_directory(tmp_path: Path) -> None:
    for impl in ("pykeepalived", "keepalived"):
        d = _daemon(tmp_path, impl)
        argv = d.argv()
        if impl == "keepalived":
            assert argv[0] == KEEPALIVED
        else:
            assert "pykeepalived" in " ".join(argv[:3])
        for flag, path in (("-f", d.conf_path), ("-p", d.pid_file), ("-r", d.vrrp_pid_file),
                           ("-c", d.checkers_pid_file)):
            assert argv[argv.index(flag) + 1] == str(path)
            assert path.parent == d.run_dir
        assert {"-n", "-l", "-D", "-P"} <= set(argv)
        # dumps: keepalived 2.2.7 writes to $TMPDIR, ours to $PYKEEPALIVED_TMP_DIR; never the host's /tmp
        env = d.env()
        assert env["TMPDIR"] == env["PYKEEPALIVED_TMP_DIR"] == str(d.run_dir)
        assert d.data_file.parent == d.stats_file.parent == d.run_dir


def test_spec_refuses_an_unknown_implementation() -> None:
    with pytest.raises(ValueError, match="impl must be one of pykeepalived, keepalived, not 'ours'"):
        DaemonSpec("lb1", "", impl=cast(Any, "ours"))


def test_configured_instances_label_what_the_lab_sees() -> None:
    text = keepalived_conf(
        "track_file tf {\n  file \"/x\"\n  weight -10\n}\n",
        instance_block("A", vrid=7, priority=250, vips=("10.0.0.100/24", "10.0.0.101/24 dev eth0")),
        instance_block("B", vrid=9, vips=("fd00::1/64",)),
    )
    got = configured_instances(text)
    assert [(c.name, c.vrid, c.priority, c.vips) for c in got.values()] == [
        ("A", 7, 250, ("10.0.0.100", "10.0.0.101")), ("B", 9, 100, ("fd00::1",))]


def test_frames_need_keep_frames() -> None:
    with pytest.raises(CaptureError, match="keep_frames=True"):
        Capture("nowhere", "br0").frames()
