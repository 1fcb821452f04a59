"""The checker child's reload read in a worker process (``pykeepalived.daemon.checker_reload``): the settings
that come back are the ones an in-process read builds, errors name file:line, warnings reach the child's log,
the collector is on afterwards with the new settings frozen, and a worker that cannot finish fails the reload
(the running configuration stays) instead of hanging it."""

from __future__ import annotations

import asyncio
import gc
import logging
from pathlib import Path

import pytest

from pykeepalived.daemon.checker_process import ConfigReloadError
from pykeepalived.daemon.checker_reload import read_in_worker, read_reload
from pykeepalived.daemon.options import DaemonOptions

CONF = """
virtual_server 10.0.0.1 80 {
    delay_loop 6
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.0.1.1 80 {
        weight 3
        TCP_CHECK {
            connect_timeout 2
        }
    }
    real_server 10.0.1.2 80 {
        HTTP_GET {
            url {
                path /health
                status_code 200
            }
        }
    }
}
"""


def test_the_worker_returns_what_an_in_process_read_builds(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    conf = tmp_path / "keepalived.conf"
    conf.write_text(CONF + "virtual_server 10.0.0.2 80 {\n    lb_kind NAT\n    protocol TCP\n}\n")  # a warning
    options = DaemonOptions(config_file=str(conf), config_id="lb1")
    caplog.set_level(logging.WARNING, "pykeepalived.checker")
    try:
        got = asyncio.run(read_in_worker(options))
        assert gc.isenabled() and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
    assert got == read_reload(options)
    assert len(got.lvs.checks) == 2
    warned = [r.getMessage() for r in caplog.records if r.name == "pykeepalived.checker"]
    assert any("no scheduler set" in w and f"{conf}:" in w for w in warned), warned


def test_a_configuration_that_cannot_run_comes_back_with_its_file_and_line(tmp_path: Path) -> None:
    conf = tmp_path / "keepalived.conf"
    conf.write_text(CONF.replace("        TCP_CHECK {\n            connect_timeout 2\n        }\n",
                                 "        FILE_CHECK {\n            track_file nope\n        }\n"))
    with pytest.raises(ConfigReloadError, match=rf"{conf}:\d+: FILE_CHECK: track_file 'nope' is not defined"):
        asyncio.run(read_in_worker(DaemonOptions(config_file=str(conf)), freeze_heap=False))


def test_a_worker_that_does_not_finish_in_time_fails_the_reload_and_is_killed(tmp_path: Path) -> None:
    """A limit shorter than the worker's start-up: the reload fails with a message naming the file, and the
    worker does not outlive it."""
    import psutil

    conf = tmp_path / "keepalived.conf"
    conf.write_text(CONF)
    before = {p.pid for p in psutil.Process().children()}
    with pytest.raises(ConfigReloadError, match=rf"Reading {conf} took longer than 0.01 s"):
        asyncio.run(read_in_worker(DaemonOptions(config_file=str(conf)), timeout=0.01))
    assert {p.pid for p in psutil.Process().children()} == before
