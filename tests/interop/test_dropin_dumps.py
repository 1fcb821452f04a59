"""Interop: the installed keepalived's dump files, captured afresh (contrib/capture_keepalived_dumps.sh: two peers
on a veth pair in private mount, network and pid namespaces), read by the parsers that read ours; and the same
snapshot written by us has keepalived's shape."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pykeepalived.daemon.dumps import data_instances, format_json, format_stats, parse_data, parse_json, parse_stats
from pykeepalived.daemon.snapshot import DaemonSnapshot, InstanceSnapshot, VrrpCounters
from vrrp.core.state import State

pytestmark = pytest.mark.interop

SCRIPT = Path(__file__).resolve().parents[2] / "contrib" / "capture_keepalived_dumps.sh"


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("keepalived-dumps")
    run = subprocess.run([str(SCRIPT), str(out)], capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    return out


@pytest.mark.parametrize("peer", ["a", "b"])
def test_fresh_keepalived_dumps_parse_and_agree(captured: Path, peer: str) -> None:
    stats = parse_stats((captured / f"{peer}.keepalived.stats").read_text())
    doc = parse_json((captured / f"{peer}.keepalived.json").read_text())
    data = data_instances(parse_data((captured / f"{peer}.keepalived.data").read_text()))
    names = [str(e["data"]["iname"]) for e in doc]
    assert list(stats) == names == list(data) == ["VI_1", "VI_2", "VI_6"]
    for entry in doc:
        name = str(entry["data"]["iname"])
        assert {"advert_rcvd", "advert_sent", "become_master", "pri_zero_sent"} <= set(stats[name])
        assert data[name]["Virtual Router ID"] == str(entry["data"]["vrid"])
        assert data[name]["State"] == STATES[int(str(entry["data"]["state"]))].value


_OPTIONAL = {"vips", "evips", "vroutes", "vrules", "track_ifp", "track_script", "auth_data"}
STATES = [State.INIT, State.BACKUP, State.MASTER, State.FAULT]  # keepalived's numbers are the indexes


def test_ours_from_keepalived_values_is_keepalived_text(captured: Path) -> None:
    """Feed keepalived's own counters into our snapshot: the stats file comes out byte-identical; the JSON has
    keepalived's keys in keepalived's order (the optional lists aside: this snapshot has no VIPs)."""
    for peer in ("a", "b"):
        text = (captured / f"{peer}.keepalived.stats").read_text()
        snap = DaemonSnapshot(taken_at=0.0, instances=tuple(
            InstanceSnapshot(name=n, vrid=1, interface="x", state=State.BACKUP,
                             counters=VrrpCounters.from_keepalived(c))
            for n, c in parse_stats(text).items()))
        assert format_stats(snap) == text
        doc = parse_json((captured / f"{peer}.keepalived.json").read_text())
        snap = DaemonSnapshot(taken_at=0.0, instances=tuple(
            InstanceSnapshot(name=str(e["data"]["iname"]), vrid=int(str(e["data"]["vrid"])),
                             interface=str(e["data"]["ifp_ifname"]), state=STATES[int(str(e["data"]["state"]))],
                             counters=VrrpCounters.from_keepalived(e["stats"]))
            for e in doc))
        ours = parse_json(format_json(snap))
        assert [[k for k in e["data"] if k not in _OPTIONAL] for e in ours] == \
               [[k for k in e["data"] if k not in _OPTIONAL] for e in doc]
        assert [e["stats"] for e in ours] == [e["stats"] for e in doc]
        assert [e["data"]["state"] for e in ours] == [e["data"]["state"] for e in doc]
