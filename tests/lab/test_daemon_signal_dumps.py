"""keepalived's signals and dump files on a running daemon (keepalived's documentation: SIGUSR1 writes
/tmp/keepalived.data, SIGUSR2 /tmp/keepalived.stats, ``--signum=JSON`` /tmp/keepalived.json, ``STATS_CLEAR``
writes the stats and zeroes them): ours and keepalived 2.2.7's files are read with the same parsers; no signal
of keepalived's table kills ours; every file is written with mode 0600 and never through a planted link."""

from __future__ import annotations

import os
import signal
import stat
import time
from pathlib import Path

import pytest

from netns_lab.daemons import Daemon, DaemonSpec, instance_block, keepalived_conf, start_daemon, wait_vip_holders
from netns_lab.lab import Lab
from netns_lab.waiting import wait_until
from pykeepalived.daemon.dumps import data_instances, parse_data, parse_json, parse_stats
from pykeepalived.daemon.signals import signum

pytestmark = pytest.mark.lab

CONF = keepalived_conf(instance_block(priority=150, advert_int=0.1))
DUMPS = ("keepalived.data", "keepalived.stats", "keepalived.json")


def _fresh(d: Daemon, name: str, sig: int, timeout: float = 5.0) -> str:
    path = d.run_dir / name
    old = path.stat().st_mtime_ns if path.exists() and not path.is_symlink() else None
    d.signal_vrrp(sig)

    def ready() -> str | None:
        try:
            if path.is_symlink() or path.stat().st_mtime_ns == old:
                return None
            return path.read_text() or None
        except FileNotFoundError:
            return None

    text = wait_until(ready, timeout, 0.02)
    assert text is not None, f"{d.label}: no {name} after signal {sig}\n{d.log_tail()}"
    return str(text)


@pytest.mark.parametrize("impl", ["pykeepalived", "keepalived"])
def test_dump_files_of_both_read_with_the_same_parsers(lab: Lab, impl: str) -> None:
    d = start_daemon(lab, DaemonSpec("lb1", CONF, impl=impl), wait=True)  # type: ignore[arg-type]
    assert wait_vip_holders(lab, "10.0.0.100", ["lb1"], timeout=10) == ["lb1"], d.log()
    time.sleep(0.5)
    data = data_instances(parse_data(_fresh(d, "keepalived.data", signum("DATA"))))
    assert data["VI_1"]["State"] == "MASTER", data
    stats = parse_stats(_fresh(d, "keepalived.stats", signum("STATS")))
    assert stats["VI_1"]["advert_sent"] > 0, stats
    js = parse_json(_fresh(d, "keepalived.json", signum("JSON")))
    assert js[0]["data"]["iname"] == "VI_1" and js[0]["data"]["state"] == 2, js
    for name in DUMPS:
        assert stat.S_IMODE((d.run_dir / name).stat().st_mode) == 0o600, name
    # STATS_CLEAR: the stats file is written with the counters, then they are zeroed (the daemon lives on)
    sent = parse_stats(_fresh(d, "keepalived.stats", signum("STATS_CLEAR")))["VI_1"]["advert_sent"]
    assert sent > 0
    after = parse_stats(_fresh(d, "keepalived.stats", signum("STATS")))["VI_1"]["advert_sent"]
    assert after < sent, (sent, after)
    assert d.running()
    assert d.stop() == 0


def test_no_keepalived_signal_kills_ours(lab: Lab) -> None:
    """Every signal of keepalived's table (and TDUMP's SIGRTMAX), in bursts, while the daemon serves.  (The
    first milliseconds after exec, before the interpreter runs our code, belong to the entry point.)"""
    sigs = [int(signal.SIGHUP), signum("DATA"), signum("STATS"), signum("JSON"), signum("STATS_CLEAR"),
            int(signal.SIGRTMAX)]
    d = start_daemon(lab, DaemonSpec("lb1", CONF), wait=True)
    for sig in sigs * 3:
        d.signal(sig)
        time.sleep(0.02)
    assert wait_vip_holders(lab, "10.0.0.100", ["lb1"], timeout=10) == ["lb1"], d.log()
    assert d.running(), d.log_tail()
    assert d.state() == "MASTER"
    assert d.stop() == 0


def test_planted_links_are_never_followed(lab: Lab) -> None:
    """Symlinks at every path the daemon writes (dump files, our JSON, the pid files): the targets stay as
    they were; the paths become the daemon's own files (mode 0600 for dumps)."""
    d = start_daemon(lab, DaemonSpec("lb1", CONF), wait=True)
    assert d.stop() == 0
    victims: dict[Path, Path] = {}
    for name in (*DUMPS, "pykeepalived.json"):
        victims[d.run_dir / name] = lab.log_dir / f"victim-{name}"
    for p in d.pid_files:
        victims[p] = lab.log_dir / f"victim-{p.name}"
    for link, target in victims.items():
        target.write_text("precious\n")
        link.unlink(missing_ok=True)
        link.symlink_to(target)
    # start without the lab's pid-file clean-up, so the planted links are still there
    d.proc = lab.start(d.host, d.argv(), name=d.label, env=d.env())
    d.procs.append(d.proc)
    d.wait_ready()
    for sig in (signum("DATA"), signum("STATS"), signum("JSON"), signum("STATS_CLEAR")):
        d.signal_vrrp(sig)
    assert wait_until(lambda: all(not (d.run_dir / n).is_symlink() for n in (*DUMPS, "pykeepalived.json")), 5), \
        d.log_tail()
    assert d.stop() == 0
    for link, target in victims.items():
        assert target.read_text() == "precious\n", link
        assert not target.is_symlink()
    for name in (*DUMPS, "pykeepalived.json"):
        p = d.run_dir / name
        assert p.is_file() and not p.is_symlink() and stat.S_IMODE(p.stat().st_mode) == 0o600, name
    assert os.getuid() == 0  # the lab runs as root: the case a planted link is dangerous in
