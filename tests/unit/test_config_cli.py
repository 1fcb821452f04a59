"""CLI: -t verdicts and file:line messages, -d JSON dump, -i config id, clean argument errors."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from pykeepalived.cli import main

CONFIGS = Path(__file__).parent / "configs"


@pytest.fixture(autouse=True)
def _root_logging() -> Iterator[None]:
    """A daemon run in-process points the root logger at this test's captured stderr: undo it afterwards, or
    later tests log into a closed stream."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    yield
    for h in root.handlers[:]:
        if h not in saved[0]:
            root.removeHandler(h)
    root.setLevel(saved[1])


def test_config_test_ok_and_dump(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-t", "-d", "-f", str(CONFIGS / "lvs.conf")]) == 5  # nb_get_retry is deprecated
    out = json.loads(capsys.readouterr().out)
    assert [v["name"] for v in out["virtual_servers"]] == ["[198.51.100.10]:tcp:443", "[198.51.100.11]:udp:80"]
    assert out["virtual_servers"][0]["real_servers"][0]["checkers"][0]["location"].endswith("lvs.conf:13")


def test_config_id_selects_conditional_lines(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-t", "-d", "-i", "high", "-f", str(CONFIGS / "macros.conf")]) == 0
    prios = {i["priority"] for i in json.loads(capsys.readouterr().out)["vrrp_instances"]}
    assert prios == {130}


def test_errors_print_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "k.conf"
    f.write_text("global_defs {\n  nonsense 1\n}\n")
    assert main(["-t", "-f", str(f)]) == 5
    assert f"{f}:2: warning: Unknown keyword 'nonsense'" in capsys.readouterr().err


def test_missing_file_is_keepalived_config_files_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # keepalived 2.2.7: "Config files missing '<file>'." and status 0 (checked against /usr/sbin/keepalived)
    assert main(["-t", "-f", str(tmp_path / "none.conf")]) == 0
    assert f"Config files missing '{tmp_path / 'none.conf'}'." in capsys.readouterr().err


def test_unreadable_file_cannot_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "dir.conf").mkdir()
    assert main(["-t", "-f", str(tmp_path / "dir.conf")]) == 4
    assert "dir.conf:0: fatal: cannot read configuration file" in capsys.readouterr().err


def test_config_test_log_file(tmp_path: Path) -> None:
    f = tmp_path / "k.conf"
    f.write_text("bogus\n")
    log = tmp_path / "log"
    assert main([f"--config-test={log}", "-f", str(f)]) == 5
    assert "Unknown keyword 'bogus'" in log.read_text()


def test_bad_flags_and_daemon_flags_are_clean(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--no-such-flag"]) == 1
    assert "unrecognized arguments" in capsys.readouterr().err
    assert main(["-P", "-n", "-l", "-f", "/nonexistent/keepalived.conf"]) == 1
    assert "/nonexistent/keepalived.conf' does not exist" in capsys.readouterr().err
    assert main(["-t", "-x", "-f", str(CONFIGS / "lvs.conf")]) == 1
    assert "option -x/--snmp is not supported: there is no SNMP subsystem" in capsys.readouterr().err
    assert main(["-v"]) == 0
    assert "pykeepalived" in capsys.readouterr().out


def test_the_daemon_gets_typed_frozen_options(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    import pykeepalived.daemon
    from pykeepalived.daemon.options import DaemonOptions

    seen: list[DaemonOptions] = []
    monkeypatch.setattr(pykeepalived.daemon, "run_daemon", lambda options: seen.append(options) or 7)
    assert main(["-P", "-n", "-l", "-D", "-f", "k.conf", "-i", "lb1", "-g", "/tmp/k.log", "-p", "m.pid",
                 "-r", "v.pid", "-c", "c.pid", "--dump-dir", "/tmp/d", "-R", "-I", "-S", "3", "-G", "-u", "027",
                 "-s", "ns1", "-m", "-d", "--all", "-B", "-b", "b.pid", "--flush-log-file"]) == 7
    assert seen == [DaemonOptions(config_file="k.conf", config_id="lb1", vrrp=True, check=False, dont_fork=True,
                                  log_console=True, log_detail=True, log_file="/tmp/k.log", pid_file="m.pid",
                                  vrrp_pid_file="v.pid", checkers_pid_file="c.pid", dump_dir="/tmp/d",
                                  dont_respawn=True, dont_release_ipvs=True, log_facility="local3", no_syslog=True,
                                  umask=0o27, namespace="ns1", core_dump=True, dump_conf=True, all_children=True)]
    with pytest.raises(dataclasses.FrozenInstanceError):
        seen[0].config_file = "other.conf"  # type: ignore[misc]
    # defaults: keepalived's config file, nothing else set
    assert main([]) == 7 and seen[1] == DaemonOptions(config_file="/etc/keepalived/keepalived.conf")


def test_nothing_under_the_daemon_imports_the_cli() -> None:
    import ast

    import pykeepalived.daemon

    root = Path(pykeepalived.daemon.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                names = [f"{node.module}.{a.name}" if node.module else a.name for a in node.names]
                if node.level:  # relative: resolve against pykeepalived.daemon[...]
                    base = ["pykeepalived", "daemon"][: max(0, 2 - (node.level - 1))]
                    names = [".".join([*base, n]) for n in names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            offenders += [f"{path.name}: {n}" for n in names if n.startswith("pykeepalived.cli")]
    assert offenders == []
