"""Scenario files: the shipped ones load; every mistake gives file:line: field, never a traceback."""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from netns_lab.scenario import ScenarioError, load_scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))

GOOD = """\
name: t
routers:
  lb1:
    config: |
      vrrp_instance VI_1 {
          interface eth0
          virtual_router_id 51
          priority 150
          virtual_ipaddress {
              10.0.0.100/24
          }
      }
  lb2:
    config_file: lb2.conf
servers:
  lb1: {serve: tcp, port: 7}
workload:
  - {client: client, target: 10.0.0.100, port: 7, rate: 20}
faults:
  - at: 2
    fault: pause
    target: master
    duration: 5
  - at: 10
    fault: partition
    groups: [[lb1], [lb2]]
    duration: 4
duration: 20
expect:
  - check: one_master
  - check: final_master
    host: lb1
"""


def _write(tmp_path: Path, text: str, conf: bool = True) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(text))
    if conf:
        (tmp_path / "lb2.conf").write_text("vrrp_instance VI_1 {\n}\n")
    return path


def _error(tmp_path: Path, text: str) -> str:
    path = _write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    msg = str(info.value)
    assert "Traceback" not in msg
    return msg.replace(str(path), "F")


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_shipped_scenarios_load(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    assert scenario.routers and scenario.expect, "a shipped scenario runs routers and checks something"
    assert all(f.at < scenario.duration for f in scenario.schedule())


def test_good_file_loads_with_defaults_and_lines(tmp_path: Path) -> None:
    s = load_scenario(_write(tmp_path, GOOD))
    assert [r.host for r in s.routers] == ["lb1", "lb2"]
    assert s.routers[0].source.endswith("s.yaml:4") and s.routers[1].source.endswith("lb2.conf")
    assert s.routers[1].config.startswith("vrrp_instance")
    assert s.servers[0].port == 7 and s.workload[0].protocol == "tcp" and s.workload[0].timeout == 1.0
    kinds = [(f.at, f.kind) for f in s.schedule()]
    assert kinds == [(2.0, "pause"), (7.0, "resume"), (10.0, "partition"), (14.0, "heal")]
    assert s.faults[0].line == 20 and s.faults[1].switch == "lan"
    assert s.expect[1].params == {"host": "lb1"} and s.expect[1].line == 31


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (("duration: 20", "duration: 20\nduraton: 3"), "F:29: duraton: unknown field"),
        (("duration: 20", "duration: -1"), "F:28: duration: -1 is less than or equal to the minimum of 0"),
        (("fault: pause", "fault: paws"), "F:21: faults[0].fault: 'paws' is not one of kill, stop"),
        (("    duration: 5\n", "    duration: 5\n    priority: 3\n"), "F:24: faults[0].priority: unknown field"),
        (("target: master\n    duration: 5", "duration: 5"), "F:20: faults[0]: 'target' is a required property"),
        (("target: master", "target: lb9"), "F:22: faults[0].target: 'lb9' is not a router of this scenario"),
        (("[[lb1], [lb2]]", "[[lb1], [lb1]]"), "F:26: faults[1].groups[1][0]: 'lb1' is already in group 0"),
        (("[[lb1], [lb2]]", "[[lb1], [nope]]"), "F:26: faults[1].groups[1][0]: no host 'nope' in the topology"),
        (("at: 10", "at: 30"), "F:24: faults[1].at: at 30 s is not before the end of the run"),
        (("  lb2:\n    config_file", "  lbx:\n    config_file"), "F:13: routers.lbx: no host 'lbx' in the topology"),
        (("  lb2:\n    config_file", "  LB2:\n    config_file"), "F:13: routers.LB2: bad host name 'LB2'"),
        (("lb2.conf", "missing.conf"), "F:14: routers.lb2.config_file: cannot read"),
        (("config_file: lb2.conf", "impl: keepalived"), "F:13: routers.lb2: give exactly one of config"),
        (("impl", "x"), None),  # no-op edit guard (the text has no 'impl'): the good file stays good
        (("target: 10.0.0.100", "target: vip"), "F:18: workload[0].target: 'vip' is not an IP address"),
        (("rate: 20", "rate: 0"), "F:18: workload[0].rate: 0 is less than or equal to the minimum of 0"),
        (("{serve: tcp, port: 7}", "{serve: udp}"), "F:16: servers.lb1.serve: 'udp' is not one of http, tcp"),
        (("host: lb1", "host: client"), "F:32: expect[1].host: 'client' is not a router of this scenario"),
        (("check: one_master", "check: one_master\n    max: 3"), "F:31: expect[0].max: unknown field"),
        (("check: one_master", "check: all_good"), "F:30: expect[0].check: 'all_good' is not one of"),
        (("name: t", "name: Bad Name"), "F:1: name: 'Bad Name': use 1-40 characters"),
        (("name: t\n", ""), "F:1: (top level): 'name' is a required property"),
        (("duration: 20", "duration: 20\nduration: 30"), "F:29: duplicate key 'duration' (first on line 28)"),
        (("groups: [[lb1], [lb2]]", "groups: [[lb1], [lb2]"), "F:27: not valid YAML"),
        (("duration: 20", "topology: ring"), "F:28: topology: expected 'default' or a mapping"),
    ],
)
def test_bad_files_name_file_line_and_field(tmp_path: Path, edit: tuple[str, str], needle: str | None) -> None:
    old, new = edit
    text = GOOD.replace(old, new, 1)
    if needle is None:
        load_scenario(_write(tmp_path, text))
        return
    assert text != GOOD, f"edit {old!r} did not apply"
    assert needle in _error(tmp_path, text)


def test_every_problem_is_reported_not_only_the_first(tmp_path: Path) -> None:
    text = GOOD.replace("rate: 20", "rate: 0").replace("fault: pause", "fault: paws")
    msg = _error(tmp_path, text)
    assert "F:18: workload[0].rate" in msg and "F:21: faults[0].fault" in msg


def test_inline_topology_errors_point_into_it(tmp_path: Path) -> None:
    topo = """\
    topology:
      hosts: [client, lb1, lb2]
      switches: [lan]
      links:
        - {host: client, switch: lan, addresses: [10.0.0.10/24]}
        - {host: lb1, switch: lan, addresses: [10.0.0.11/24]}
        - {host: lb2, switch: wan, addresses: [10.0.0.12/24]}
    """
    text = GOOD.replace("routers:\n", textwrap.dedent(topo) + "routers:\n", 1)
    msg = _error(tmp_path, text)
    assert "F:8: topology.links[2].switch: unknown switch 'wan'" in msg


def test_several_switches_need_a_named_one_for_partitions(tmp_path: Path) -> None:
    topo = """\
    topology:
      hosts: [client, lb1, lb2]
      switches: [lan, wan]
      links:
        - {host: client, switch: lan}
        - {host: lb1, switch: lan}
        - {host: lb2, switch: wan}
    """
    text = GOOD.replace("routers:\n", textwrap.dedent(topo) + "routers:\n", 1)
    assert "faults[1]: the topology has several switches" in _error(tmp_path, text)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "F:1: the file is empty"),
        ("- a\n- b\n", "F:1: expected a mapping of fields"),
        ("name: t\nrouters: {lb1: {config: x}}\nfaults: !!python/object:os.system {}\n", "F:3: not valid YAML"),
        ("name: [\n", "F:2: not valid YAML"),
    ],
)
def test_not_a_scenario(tmp_path: Path, text: str, needle: str) -> None:
    assert needle in _error(tmp_path, text)


def test_unreadable_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"nope\.yaml: cannot read"):
        load_scenario(tmp_path / "nope.yaml")
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ScenarioError, match="not a text file"):
        load_scenario(tmp_path / "bin.yaml")


def test_random_faults_are_drawn_from_the_seed(tmp_path: Path) -> None:
    text = GOOD.replace(
        "duration: 20\n",
        "duration: 90\nrandom_faults: {count: 5, kinds: [kill, pause, partition, loss], targets: [master, lb2], "
        "start: 20, spacing: 12, duration: 4, seed: 3}\n",
    )
    s = load_scenario(_write(tmp_path, text))
    a, b, c = s.schedule(), s.schedule(), s.schedule(seed=4)
    assert a == b and a != c
    drawn = [f for f in a if f.note == "drawn"]
    assert len(drawn) == 5 and all(f.kind in ("kill", "pause", "partition", "loss") for f in drawn)
    # each drawn fault is lifted before the next one starts
    for f, nxt in itertools.pairwise(drawn):
        lift = next(x for x in a if x.undoes == f.kind and x.at > f.at)
        assert lift.at < nxt.at


def test_cli_validate_reports_without_traceback(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace("fault: pause", "fault: paws"))
    cp = subprocess.run(
        [sys.executable, "-m", "netns_lab.cli", "check", str(path)], capture_output=True, text=True, check=False
    )
    assert cp.returncode == 2, cp.stderr
    assert f"{path}:21: faults[0].fault" in cp.stderr and "Traceback" not in cp.stderr
    ok = subprocess.run(
        [sys.executable, "-m", "netns_lab.cli", "check", str(_write(tmp_path, GOOD))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0 and "ok" in ok.stdout
