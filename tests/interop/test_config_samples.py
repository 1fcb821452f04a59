"""Interop: every sample config Debian's keepalived ships, through our -t and through `keepalived -t`.

Verdicts (exit status class) must agree, and our dump must contain every VRRP instance and virtual
server keepalived itself reports. To see what keepalived reports we run it (``-n -l -d``) for two
seconds inside a private network + mount namespace (``unshare -n -m``, veth eth0..eth3, tmpfs /run,
pid files in a temp dir): nothing it does can reach the host, and the namespaces vanish with it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

import pytest

pytestmark = pytest.mark.interop

SAMPLES = Path("/usr/share/doc/keepalived/samples")
SAMPLE_FILES = sorted(p.name for p in SAMPLES.glob("keepalived.conf.*")) if SAMPLES.is_dir() else []
KEEPALIVED = shutil.which("keepalived") or "/usr/sbin/keepalived"


def _klass(rc: int) -> str:
    return {0: "ok", 4: "cannot-run", 5: "errors", 6: "security"}.get(rc, f"other({rc})")


def _ours(path: Path) -> tuple[int, dict[str, object], str]:
    p = subprocess.run([sys.executable, "-m", "pykeepalived.cli", "-t", "-d", "-f", str(path)],
                       capture_output=True, text=True, timeout=60)
    return p.returncode, json.loads(p.stdout), p.stderr


@cache
def _keepalived_reports() -> dict[str, tuple[set[str], set[str]]]:
    """Run keepalived -d on every sample in parallel, each in its own private namespaces.

    A PID namespace (``unshare -p -f --kill-child``) makes sure keepalived's children die with it,
    and output goes to files, so a straggler can never hold a pipe open.
    """
    out: dict[str, tuple[set[str], set[str]]] = {}
    with tempfile.TemporaryDirectory(prefix="pyka-interop-") as tmp:
        procs = {}
        for name in SAMPLE_FILES:
            d = Path(tmp) / name
            d.mkdir()
            script = ("mount -t tmpfs tmpfs /run && ip link set lo up && "
                      "for i in 0 1 2 3; do ip link add eth$i type veth peer name peer$i && ip link set eth$i up; "
                      f"done; timeout 4 {KEEPALIVED} -n -l -D -d -f {SAMPLES / name} "
                      f"-p {d}/k.pid -r {d}/v.pid -c {d}/c.pid -b {d}/b.pid")
            with open(d / "log", "w") as log:
                procs[name] = subprocess.Popen(
                    ["unshare", "-p", "-f", "--kill-child", "--mount-proc", "-n", "-m", "--propagation", "private",
                     "sh", "-c", script], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        for name, p in procs.items():
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            text = (Path(tmp) / name / "log").read_text(errors="replace")
            instances = set(re.findall(r"VRRP Instance = (\S+)", text))
            servers = set(re.findall(r" from VS (\S+(?: \d+)?)", text))
            out[name] = (instances, servers)
            _DUMPS[name] = _instance_fields(text)
    return out


_DUMPS: dict[str, dict[str, dict[str, str]]] = {}
_FIELDS = ("VRRP Version", "Wantstate", "Interface", "Virtual Router ID", "Priority", "Advert interval", "Accept",
           "Preempt", "Gratuitous ARP delay", "Gratuitous ARP repeat", "Down timer adverts", "Authentication type")


def _instance_fields(text: str) -> dict[str, dict[str, str]]:
    """keepalived's -d dump, per VRRP instance: the fields we compare with our resolved defaults."""
    out: dict[str, dict[str, str]] = {}
    cur: dict[str, str] | None = None
    for line in text.splitlines():
        body = line.split(": ", 1)[1] if ": " in line[:26] else line
        m = re.match(r" VRRP Instance = (\S+)$", body)
        if m:
            cur = out.setdefault(m.group(1), {})
            continue
        if cur is not None:
            indent = len(body) - len(body.lstrip())
            if indent <= 1:
                cur = None
                continue
            m = re.match(r"\s+([A-Za-z][A-Za-z ]+?) = (.*)$", body)
            if m and m.group(1) in _FIELDS and m.group(1) not in cur:
                cur[m.group(1)] = m.group(2).strip()
    return out


def _ours_fields(inst: dict[str, object]) -> dict[str, str]:
    adv = float(inst["advert_int"])  # type: ignore[arg-type]
    return {
        "VRRP Version": str(inst["version"]),
        "Wantstate": str(inst["state"]),
        "Interface": str(inst["interface"]) if inst["use_vmac"] is None else
        f"{inst['use_vmac'] or 'vrrp.' + str(inst['virtual_router_id'])}, vmac on {inst['interface']}",
        "Virtual Router ID": str(inst["virtual_router_id"]),
        "Priority": str(inst["priority"]),
        "Advert interval": f"{adv:g} sec" if inst["version"] == 2 else f"{adv * 1000:g} milli-sec",
        "Accept": "enabled" if inst["accept"] else "disabled",
        "Preempt": "disabled" if inst["nopreempt"] else "enabled",
        "Gratuitous ARP delay": f"{float(inst['garp_master_delay']):g}",  # type: ignore[arg-type]
        "Gratuitous ARP repeat": str(inst["garp_master_repeat"]),
        "Down timer adverts": str(inst["down_timer_adverts"]),
        "Authentication type": {None: "none", "PASS": "SIMPLE_PASSWORD", "AH": "IPSEC_AH"}[
            inst["auth_type"]],  # type: ignore[index]
    }


@pytest.mark.parametrize("name", SAMPLE_FILES)
def test_sample_verdict_and_contents_agree(name: str) -> None:
    path = SAMPLES / name
    ka = subprocess.run([KEEPALIVED, "-t", "-l", "-f", str(path)], capture_output=True, text=True, timeout=60)
    rc, dump, err = _ours(path)
    assert _klass(rc) == _klass(ka.returncode), f"ours:\n{err}\nkeepalived:\n{ka.stdout}{ka.stderr}"
    instances, servers = _keepalived_reports()[name]
    ours_inst = {i["name"] for i in dump["vrrp_instances"]}  # type: ignore[index, union-attr]
    ours_vs = {v["name"] for v in dump["virtual_servers"]}  # type: ignore[index, union-attr]
    assert instances <= ours_inst, f"keepalived reports instances {instances - ours_inst} we do not have"
    assert servers <= ours_vs, f"keepalived reports virtual servers {servers - ours_vs} we do not have"


VRRP_SAMPLES = [n for n in SAMPLE_FILES if "vrrp_instance" in (SAMPLES / n).read_text(errors="replace")]


@pytest.mark.parametrize("name", VRRP_SAMPLES)
def test_sample_instance_defaults_match_keepalived_dump(name: str) -> None:
    """Resolved VRRP defaults (priority, advert, accept, GARP, auth...) equal keepalived's own -d dump."""
    _keepalived_reports()
    theirs = _DUMPS.get(name, {})
    if not theirs:
        pytest.skip(f"keepalived stopped before dumping the VRRP instances of {name} (nothing to compare)")
    _, dump, _ = _ours(SAMPLES / name)
    ours = {i["name"]: i for i in dump["vrrp_instances"]}  # type: ignore[index, union-attr]
    # (VRRPv3 instances have no "Authentication type" line)
    complete = {inst: f for inst, f in theirs.items() if set(_FIELDS[:-1]) <= set(f)}
    if not complete:
        pytest.skip(f"keepalived was stopped before it finished dumping {name}: {theirs}")
    for inst, fields in complete.items():
        mine = _ours_fields(ours[inst])
        diff = {k: (mine[k], v) for k, v in fields.items() if mine.get(k) != v}
        assert not diff, f"{inst}: (ours, keepalived) differ: {diff}"


def test_interop_oracle_reports_something() -> None:
    """Guard against a vacuous pass: keepalived must have reported instances and servers for the corpus."""
    reports = _keepalived_reports()
    assert sum(len(i) for i, _ in reports.values()) >= 5
    assert sum(len(s) for _, s in reports.values()) >= 5
