"""netns_lab.lvslab without a kernel: its command line refuses what it does not know, and the client log is read
even when the client was stopped in the middle of a line."""

from __future__ import annotations

from pathlib import Path

import pytest

from netns_lab.lvslab import ClientRecord, _main, read_client_log, rs_addr


def test_unknown_command_line_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert _main(["serve", "10.0.0.1"]) == 2
    assert _main([]) == 2
    assert "usage: python -m netns_lab.lvslab" in capsys.readouterr().err


def test_client_log_keeps_whole_records_only(tmp_path: Path) -> None:
    log = tmp_path / "client.log"
    log.write_text('{"t": 1.5, "ok": true, "what": "rs1"}\n{"t": 1.52, "ok": false, "what": "ConnectionRefused'
                   'Error"}\n{"t": 1.54, "ok": tr')
    assert read_client_log(log) == [ClientRecord(1.5, True, "rs1"), ClientRecord(1.52, False, "ConnectionRefusedError")]
    assert rs_addr(3) == "10.2.3.2"
