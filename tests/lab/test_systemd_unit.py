"""The drop-in claim under a real systemd: Debian's keepalived.service with ExecStart pointed at pykeepalived starts
(Type=notify: ``systemctl start`` returns on READY=1), reloads (ExecReload=/bin/kill -HUP $MAINPID) and stops
cleanly, with the same config file in /etc/keepalived. Debian's systemd runs as PID 1 of a throwaway box
(netns_lab.systemd_box); the same test runs Debian's unit unchanged with keepalived 2.2.7 as the anchor, and the
project's own contrib unit the same way."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from netns_lab.cleanup import clean
from netns_lab.daemons import ours_command
from netns_lab.systemd_box import SystemdBox, cgroup_hierarchies, missing, own_cgroup
from netns_lab.waiting import wait_until

pytestmark = pytest.mark.lab

DEBIAN_UNIT = Path("/lib/systemd/system/keepalived.service")
CONTRIB_UNIT = Path(__file__).resolve().parents[2] / "contrib" / "systemd" / "pykeepalived.service"
VIP1, VIP2 = "10.9.0.100", "10.9.0.101"
SETUP = [["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth1"],
         ["ip", "link", "set", "eth1", "up"], ["ip", "link", "set", "eth0", "up"],
         ["ip", "addr", "add", "10.9.0.1/24", "dev", "eth0"]]  # fmt: skip


@pytest.fixture(autouse=True)
def _systemd_here() -> None:
    """bootstrap.sh installs systemd, so in CI a box that cannot be built is an error, elsewhere a skip."""
    why = missing()
    if why is not None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(why)
        pytest.skip(why)


def _conf(*vips: str) -> str:
    addresses = "".join(f"    {v}/24\n" for v in vips)
    return ("global_defs {\n  router_id box\n}\n"
            "vrrp_instance VI_1 {\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  priority 150\n"
            f"  advert_int 0.5\n  virtual_ipaddress {{\n{addresses}  }}\n}}\n")  # fmt: skip


def _unit(case: str) -> tuple[str, str]:
    """(unit name, unit text) for the case: Debian's unit as installed, or with ExecStart pointed at ours."""
    ours = " ".join(ours_command())
    if case == "debian-unit-keepalived":
        return "keepalived.service", DEBIAN_UNIT.read_text()
    if case == "debian-unit-pykeepalived":
        text = DEBIAN_UNIT.read_text()
        assert text.count("ExecStart=/usr/sbin/keepalived ") == 1
        return "keepalived.service", text.replace("ExecStart=/usr/sbin/keepalived ", f"ExecStart={ours} ")
    text = CONTRIB_UNIT.read_text()
    assert text.count("ExecStart=/usr/local/bin/pykeepalived ") == 1
    return "pykeepalived.service", text.replace("ExecStart=/usr/local/bin/pykeepalived ", f"ExecStart={ours} ")


def _vips(box: SystemdBox) -> set[str]:
    out = box.exec(["ip", "-o", "-4", "addr", "show", "dev", "eth0"]).stdout
    return {line.split()[3].split("/")[0] for line in out.splitlines()} & {VIP1, VIP2}


@pytest.mark.skipif(not DEBIAN_UNIT.exists(), reason="needs Debian's keepalived package (bash bootstrap.sh)")
@pytest.mark.parametrize("case", ["debian-unit-pykeepalived", "debian-unit-keepalived", "contrib-unit-pykeepalived"])
def test_the_unit_starts_reloads_and_stops_cleanly_under_systemd(tmp_path: Path, case: str) -> None:
    name, text = _unit(case)
    etc = tmp_path / "etc-keepalived"
    etc.mkdir()
    conf = etc / "keepalived.conf"
    conf.write_text(_conf(VIP1))
    with SystemdBox(units={name: text}, binds={"/etc/keepalived": etc}, setup=SETUP) as box:

        def why() -> str:
            return box.systemctl("status", name, check=False).stdout + "\n" + box.log()

        # start: returns only once the daemon said READY=1 (Type=notify), the main process is the daemon
        box.systemctl("start", name, timeout=60)
        props = box.show(name, "ActiveState", "SubState", "Type", "MainPID", "NRestarts")
        assert (props["ActiveState"], props["SubState"], props["Type"]) == ("active", "running", "notify"), why()
        main_pid = props["MainPID"]
        assert main_pid != "0", why()
        assert wait_until(lambda: _vips(box) == {VIP1}, 15), why()

        # reload with a second VIP: the same main process, the first VIP kept, the second one added
        conf.write_text(_conf(VIP1, VIP2))
        box.systemctl("reload", name, timeout=60)
        assert wait_until(lambda: _vips(box) == {VIP1, VIP2}, 15), why()
        props = box.show(name, "ActiveState", "SubState", "MainPID", "NRestarts")
        assert (props["ActiveState"], props["SubState"]) == ("active", "running"), why()
        assert (props["MainPID"], props["NRestarts"]) == (main_pid, "0"), why()

        # stop: a clean exit (no SIGKILL after the timeout, status 0), nothing left behind
        box.systemctl("stop", name, timeout=90)
        props = box.show(name, "ActiveState", "Result", "ExecMainStatus", "ExecMainCode")
        assert props["ActiveState"] == "inactive", why()
        assert (props["Result"], props["ExecMainStatus"]) == ("success", "0"), (props, why())
        assert _vips(box) == set(), why()
        assert box.unit_pids(name) == [], why()
        left = box.exec(["ls", "/run"]).stdout.split()
        assert not [f for f in left if f.endswith(".pid")], left


def test_clean_removes_dead_boxes_and_leaves_live_ones(tmp_path: Path) -> None:
    """A box killed outright (its maker SIGKILLed) leaves empty cgroups and a work directory: ``netns-lab clean``
    removes those, and never a live box's."""
    dead = "sdclean" + os.urandom(2).hex()
    made = [own_cgroup(h) / f"netns_lab-{dead}" for h in cgroup_hierarchies()]
    workdir = Path(tempfile.mkdtemp(prefix=f"netns_lab-{dead}-"))
    try:
        for cg in made:
            (cg / "init.scope").mkdir(parents=True)
            old = time.time() - 3600  # older than a box being built
            os.utime(cg, (old, old))
        with SystemdBox(units={}) as live:
            removed = clean().boxes
            assert dead in removed and live.prefix not in removed, removed
            assert all(cg.is_dir() for cg in live.cgroups)
            assert live.systemctl("is-system-running", check=False).stdout.strip() in ("running", "degraded")
        assert not any(cg.exists() for cg in made) and not workdir.exists()
    finally:
        for cg in made:
            for sub in (cg / "init.scope", cg):
                with contextlib.suppress(OSError):
                    sub.rmdir()
        shutil.rmtree(workdir, ignore_errors=True)
