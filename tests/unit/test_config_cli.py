"""CLI: -t verdicts and file:line messages, -d JSON dump, -i config id, clean argument errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pykeepalived.cli import main

CONFIGS = Path(__file__).parent / "configs"


def test_config_test_ok_and_dump(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-t", "-d", "-f", str(CONFIGS / "lvs.conf")]) == 5  # nb_get_retry is deprecated
    out = json.loads(capsys.readouterr().out)
    assert [v["name"] for v in out["virtual_servers"]] == ["[198.51.100.10]:tcp:443", "[198.51.100.11]:udp:80"]
    assert out["virtual_servers"][0]["real_servers"][0]["checkers"][0]["location"].endswith("lvs.conf:13")


def test_config_id_selects_conditional_lines(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-d", "-i", "high", "-f", str(CONFIGS / "macros.conf")]) == 0
    prios = {i["priority"] for i in json.loads(capsys.readouterr().out)["vrrp_instances"]}
    assert prios == {130}


def test_errors_print_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "k.conf"
    f.write_text("global_defs {\n  nonsense 1\n}\n")
    assert main(["-t", "-f", str(f)]) == 5
    assert f"{f}:2: warning: Unknown keyword 'nonsense'" in capsys.readouterr().err


def test_missing_file_cannot_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-t", "-f", str(tmp_path / "none.conf")]) == 4
    assert "none.conf:0: fatal: cannot read configuration file" in capsys.readouterr().err


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
    assert main(["-C", "-n", "-l", "-f", str(CONFIGS / "lvs.conf")]) == 1
    assert "checker process is not implemented yet" in capsys.readouterr().err
    assert main(["-t", "-x", "-f", str(CONFIGS / "lvs.conf")]) == 1
    assert main(["-v"]) == 0
    assert "pykeepalived" in capsys.readouterr().out
