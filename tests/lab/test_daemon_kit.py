"""Shared helpers for the daemon lab and interop tests: run our VRRP process or keepalived in a lab host,
read its state, find who holds a VIP.  Also the daemon's own command-line error tests (bad input -> clear
message, no traceback), which need no namespaces.

Why helpers live in a ``test_`` module: tests/lab and tests/interop may only hold ``test_daemon_*`` /
``test_interop_*`` files; pytest puts this directory on ``sys.path``, so ``from test_daemon_kit import ...``
works from both tiers (interop adds the path itself).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from netns_lab.lab import Lab
from netns_lab.observe import _open_packet_socket
from netns_lab.process import LabProcess

REPO = Path(__file__).resolve().parents[2]
KEEPALIVED = "/usr/sbin/keepalived"


def wait_until(pred: Callable[[], Any], timeout: float, step: float = 0.05) -> Any:
    """Poll ``pred`` until it returns something truthy (returned) or ``timeout`` passes (None)."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            return None
        time.sleep(step)


def instance_block(
    name: str = "VI_1",
    *,
    vrid: int = 51,
    priority: int = 100,
    advert_int: float = 0.1,
    vips: Iterable[str] = ("10.0.0.100/24",),
    version: int | None = 3,
    extra: str = "",
    interface: str = "eth0",
) -> str:
    """One ``vrrp_instance`` block (keepalived syntax, so both daemons read it)."""
    vip_lines = "\n".join(f"    {v}" for v in vips)
    ver = f"  version {version}\n" if version is not None else ""
    return (
        f"vrrp_instance {name} {{\n  state BACKUP\n  interface {interface}\n  virtual_router_id {vrid}\n"
        f"  priority {priority}\n  advert_int {advert_int:g}\n{ver}{extra}"
        f"  virtual_ipaddress {{\n{vip_lines}\n  }}\n}}\n"
    )


def config(*blocks: str, global_extra: str = "") -> str:
    return "global_defs {\n  router_id lab\n" + global_extra + "}\n" + "".join(blocks)


@dataclass
class Daemon:
    """A VRRP daemon (ours or keepalived) running in one lab host."""

    lab: Lab
    host: str
    impl: str
    conf: Path
    run_dir: Path
    proc: LabProcess

    @property
    def pid_files(self) -> list[Path]:
        return [self.run_dir / n for n in ("main.pid", "vrrp.pid", "checkers.pid")]

    def stats(self, timeout: float = 5.0) -> dict[str, Any]:
        """Our daemon's SIGUSR2 JSON dump (state and counters of every instance)."""
        assert self.impl == "ours", "stats() reads pykeepalived's dump"
        # SIGUSR2 before the handler is installed would kill the process: wait until it is serving
        assert wait_until(lambda: "VRRP started" in self.log(), timeout), f"{self.host} not ready\n{self.log()}"
        path = self.run_dir / "keepalived.stats"
        old = path.stat().st_mtime_ns if path.exists() else None
        self.proc.signal(signal.SIGUSR2)

        def fresh() -> dict[str, Any] | None:
            if not path.exists() or path.stat().st_mtime_ns == old:
                return None
            data: dict[str, Any] = json.loads(path.read_text())
            return data

        data = wait_until(fresh, timeout, 0.02)
        assert data is not None, f"{self.host}: no stats dump after SIGUSR2\n{self.proc.log_text()[-2000:]}"
        return dict(data)

    def state(self, instance: str = "VI_1") -> str:
        return str(self.stats()["instances"][instance]["state"])

    def log(self) -> str:
        return self.proc.log_text()

    def stop(self, timeout: float = 5) -> int | None:
        return self.proc.stop(timeout)


def start_daemon(lab: Lab, host: str, conf_text: str, *, impl: str = "ours", tag: str = "") -> Daemon:
    """Write ``conf_text`` and start our daemon (``python -m pykeepalived.daemon``) or keepalived 2.2.7 in
    ``host`` with keepalived's flags ``-n -l -D -P -f`` and pid files private to this run."""
    label = f"{host}{tag}-{impl}"
    run_dir = lab.log_dir / label
    run_dir.mkdir(parents=True, exist_ok=True)
    conf = run_dir / "keepalived.conf"
    conf.write_text(conf_text)
    pids = ["-p", str(run_dir / "main.pid"), "-r", str(run_dir / "vrrp.pid"), "-c", str(run_dir / "checkers.pid")]
    if impl == "ours":
        argv = [sys.executable, "-m", "pykeepalived.daemon", "-P", "-n", "-l", "-D", "-f", str(conf), *pids,
                "--dump-dir", str(run_dir)]
        env = {"PYTHONPATH": str(REPO)}
    elif impl == "keepalived":
        argv = [KEEPALIVED, "-n", "-l", "-D", "-P", "-f", str(conf), *pids]
        env = {}
    else:
        raise ValueError(impl)
    proc = lab.start(host, argv, name=f"{impl}{tag}", env=env)
    return Daemon(lab, host, impl, conf, run_dir, proc)


def holders(lab: Lab, vip: str, hosts: Iterable[str] = ("lb1", "lb2")) -> list[str]:
    """The hosts that have ``vip`` (bare address) configured on any interface."""
    out = []
    for h in hosts:
        text = lab.exec(h, ["ip", "-o", "addr", "show"]).stdout
        if any(f" {vip}/" in line for line in text.splitlines()):
            out.append(h)
    return out


def wait_holders(lab: Lab, vip: str, expected: list[str], timeout: float = 5.0,
                 hosts: Iterable[str] = ("lb1", "lb2")) -> list[str]:
    """Wait until exactly ``expected`` hold ``vip``; returns the last holders seen (for the assertion)."""
    hosts = list(hosts)
    seen: list[str] = []

    def check() -> bool:
        nonlocal seen
        seen = holders(lab, vip, hosts)
        return sorted(seen) == sorted(expected)

    wait_until(check, timeout, 0.05)
    return seen


class FrameCapture:
    """Every Ethernet frame seen on a bridge (AF_PACKET in the switch namespace), with its arrival time.

    AdvertCapture only keeps VRRP; GARP/NA counting needs the raw frames.  Used as a context manager.
    """

    def __init__(self, lab: Lab, switch: str = "lan") -> None:
        self._sock = _open_packet_socket(lab.switch_netns(switch), lab.bridge_ifname(switch))
        self._frames: list[tuple[float, bytes]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="daemon-test-frames", daemon=True)

    def __enter__(self) -> FrameCapture:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=3)
        self._sock.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._sock], [], [], 0.1)
            if not ready:
                continue
            with contextlib.suppress(OSError):
                frame, addr = self._sock.recvfrom(65535)
                if len(addr) > 2 and addr[2] == 4:  # PACKET_OUTGOING: the bridge forwarding it, a copy
                    continue
                with self._lock:
                    self._frames.append((time.time(), frame))

    def frames(self, since: float = 0.0) -> list[tuple[float, bytes]]:
        with self._lock:
            return [(t, f) for t, f in self._frames if t >= since]


def clusters(times: list[float], gap: float) -> list[list[float]]:
    """Group sorted ``times`` into runs whose members are less than ``gap`` apart (bursts)."""
    out: list[list[float]] = []
    for t in sorted(times):
        if out and t - out[-1][-1] < gap:
            out[-1].append(t)
        else:
            out.append([t])
    return out


# ------------------------------------------------------------------ command-line errors (no namespaces needed)


def private_net() -> list[str]:
    """Command prefix that runs a command in a fresh, throwaway network namespace (when we may create one).

    The daemon command-line tests expect the daemon to refuse to start; should a regression let it start
    anyway, it must not put VIPs on the host's interfaces or send adverts on the host's network.
    """
    if os.geteuid() == 0 and shutil.which("unshare"):
        return ["unshare", "--net"]
    return []


def run_daemon_cli(*args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    """``python -m pykeepalived.daemon -n -l ARGS`` with pid files in ``tmp``, in a private network namespace."""
    return subprocess.run(
        [*private_net(), sys.executable, "-m", "pykeepalived.daemon", "-n", "-l", *args,
         "-p", str(tmp / "m.pid"), "-r", str(tmp / "v.pid")],
        capture_output=True, text=True, timeout=30, env={**os.environ, "PYTHONPATH": str(REPO)}, check=False,
    )



def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    cp = run_daemon_cli("-f", str(tmp_path / "nope.conf"), tmp=tmp_path)
    assert cp.returncode != 0
    assert "nope.conf" in cp.stderr and "Traceback" not in cp.stderr


def test_unusable_instance_names_file_and_line(tmp_path: Path) -> None:
    conf = tmp_path / "k.conf"
    # (not on lo: keepalived ignores such an instance before anything else is checked)
    conf.write_text("vrrp_instance VI_1 {\n  interface eth0\n  priority 100\n"
                    "  virtual_ipaddress {\n    10.9.9.9/32\n  }\n}\n")
    cp = run_daemon_cli("-f", str(conf), tmp=tmp_path)
    assert cp.returncode == 4, cp.stderr
    assert f"{conf}:1" in cp.stderr and "virtual_router_id" in cp.stderr, cp.stderr
    assert "Traceback" not in cp.stderr


def test_bad_flag_is_a_usage_error(tmp_path: Path) -> None:
    cp = run_daemon_cli("--no-such-flag", tmp=tmp_path)
    assert cp.returncode == 1 and "Traceback" not in cp.stderr and "usage" in cp.stderr.lower()


@pytest.mark.lab
def test_pid_file_of_a_live_daemon_refuses_start(tmp_path: Path) -> None:
    (tmp_path / "m.pid").write_text(f"{os.getpid()}\n")  # this test process is alive
    conf = tmp_path / "k.conf"
    # eth0 does not exist in the test's netns: the pid file is checked before any interface is touched
    # (an instance on lo would be ignored, leaving nothing to run)
    conf.write_text(config(instance_block(interface="eth0")))
    cp = run_daemon_cli("-f", str(conf), tmp=tmp_path)
    assert cp.returncode == 1 and "already running" in cp.stderr, cp.stderr
    assert (tmp_path / "m.pid").read_text().strip() == str(os.getpid())  # not ours: left alone


# ------------------------------------------------------------------ config -> settings mapping (pure)


def _settings(tmp_path: Path, text: str) -> Any:
    from pykeepalived.config import HostView, load_config
    from pykeepalived.daemon.settings import build_settings

    conf = tmp_path / "k.conf"
    conf.write_text(text)
    return build_settings(load_config(str(conf), host=HostView(interfaces=None)).config)


def test_settings_map_keepalived_keywords_to_router_and_io(tmp_path: Path) -> None:
    s = _settings(tmp_path, config(
        "vrrp_script chk {\n  script \"/bin/true\"\n  weight -30\n}\n",
        instance_block(priority=120, advert_int=0.25, vips=("10.0.0.100/24 dev eth0 label eth0:1",),
                       extra="  nopreempt\n  use_vmac\n  track_script {\n    chk\n  }\n"
                             "  unicast_src_ip 10.0.0.11\n  unicast_peer {\n    10.0.0.12\n  }\n"),
    ))
    (inst,) = s.instances
    assert (inst.interface, inst.parent_interface, inst.advert_int_cs, inst.preempt) == ("vrrp.51", "eth0", 25, False)
    assert [str(v.address) for v in inst.vips] == ["10.0.0.100/24"] and inst.vips[0].label == "eth0:1"
    assert inst.vips[0].dev == "vrrp.51"  # keepalived moves VIPs of the parent interface to the VMAC
    assert [str(p) for p in inst.unicast_peers] == ["10.0.0.12"] and str(inst.src_ip) == "10.0.0.11"
    trackers = {t.name: t for t in inst.trackers}
    assert trackers["interface eth0"].weight == 0  # the instance's own interface: down is FAULT
    assert trackers["script chk"].weight == -30
    cfg = inst.router_config(inst.src_ip)
    assert (cfg.vrid, cfg.priority, cfg.version, cfg.advert_int_cs) == (51, 120, 3, 25)


def test_settings_error_names_file_and_line(tmp_path: Path) -> None:
    from pykeepalived.daemon.settings import SettingsError

    with pytest.raises(SettingsError, match=r"k\.conf:\d+: .*track_script nope: no such vrrp_script"):
        _settings(tmp_path, config(instance_block(extra="  track_script {\n    nope\n  }\n")))
    with pytest.raises(SettingsError, match=r"k\.conf:\d+: vrrp_instance VI_1: .*mixes IPv4 and IPv6"):
        _settings(tmp_path, config(instance_block(vips=("10.0.0.100/24", "fd00::100/64"))))


def test_settings_old_unicast_checksum_and_nodad(tmp_path: Path) -> None:
    from pykeepalived.daemon.settings import SettingsError

    s = _settings(tmp_path, config(
        instance_block("V6", vrid=52, vips=("fd00::100/64", "fd00::101/64 -nodad")),
        instance_block(extra="  old_unicast_checksum\n"),
        instance_block("VI_N", vrid=53, vips=("10.0.0.101/24",), extra="  old_unicast_checksum never\n"),
    ))
    v6, v1, vn = s.instances
    assert [v.nodad for v in v6.vips] == [True, False]  # keepalived: no DAD for VIPs unless "-nodad"
    assert (v6.old_unicast_checksum, v1.old_unicast_checksum, vn.old_unicast_checksum) == ("auto", "always", "never")
    with pytest.raises(SettingsError, match=r"k\.conf:\d+: vrrp_instance VI_1: old_unicast_checksum takes no value"):
        _settings(tmp_path, config(instance_block(extra="  old_unicast_checksum sometimes\n")))
