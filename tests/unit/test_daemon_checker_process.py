"""The checker process core end to end on loopback: real probes against real servers, the pool, and a
MemoryBackend (the IPVS oracle) that ends up holding exactly the healthy servers."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ipvs.errors import IPVSError
from ipvs.formats import format_list
from ipvs.memory import MemoryBackend
from ipvs.model import ServiceKey, ServiceState
from netns_lab.servers import Route, closed_port, http_server
from pykeepalived.config import HostView, Severity, load_config
from pykeepalived.daemon.checker_process import CheckerProcess
from pykeepalived.daemon.lvs import build_lvs

HOST = HostView(interfaces=frozenset(), find_executable=lambda c: c, user_exists=lambda u: False)


def conf(good: int, dead: int, marker: Path, weight_file: Path) -> str:
    return f"""
global_defs {{
    lvs_notify_fifo {marker.parent / "lvs.fifo"}
}}
virtual_server 10.0.0.1 80 {{
    lb_algo rr
    lb_kind NAT
    protocol TCP
    delay_loop 1
    warmup 0
    real_server 127.0.0.1 {good} {{
        HTTP_GET {{
            url {{
                path /
                status_code 200
            }}
            connect_timeout 1
        }}
        MISC_CHECK {{
            misc_path "{sys.executable} -c 'import sys; sys.exit(int(open(\\"{weight_file}\\").read()))'"
            misc_dynamic
        }}
    }}
    real_server 127.0.0.2 {dead} {{
        notify_down "/usr/bin/touch {marker}"
        TCP_CHECK {{
            connect_timeout 1
        }}
    }}
}}
"""


async def until(cond: Callable[[], bool], limit: float = 15.0) -> None:
    """Wait for a state (generous limit: this checks where the system ends up, not how fast)."""
    async with asyncio.timeout(limit):
        while not cond():
            await asyncio.sleep(0.05)


def test_dead_server_leaves_the_table_and_dynamic_weight_applies(tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    marker = tmp_path / "down"
    weight_file = tmp_path / "w"
    weight_file.write_text("7")  # misc_dynamic: weight 5

    async def go() -> tuple[str, str, str]:
        async with http_server("127.0.0.1", {"/": Route(200, b"ok")}) as good:
            f = tmp_path / "keepalived.conf"
            dead = closed_port("127.0.0.2")
            f.write_text(conf(good, dead, marker, weight_file))
            res = load_config(str(f), config_id="main", host=HOST)
            assert not [d for d in res.diagnostics if d.severity == Severity.ERROR], res.diagnostics
            backend = MemoryBackend()
            proc = CheckerProcess(build_lvs(res.config), backend, resync_interval=0.5)
            runner = asyncio.create_task(proc.run())

            async def listing() -> str:
                return format_list(await backend.list_services())

            await until(lambda: len(proc.sync_results) >= 1)
            start = await listing()
            async with asyncio.timeout(15):  # where it ends up, not how fast
                while "127.0.0.2" in (settled := await listing()) or "Masq    5" not in settled:
                    await asyncio.sleep(0.05)
            await until(marker.exists)
            fifo = os.open(tmp_path / "lvs.fifo", os.O_RDONLY | os.O_NONBLOCK)  # the process holds it open too
            try:
                lines = os.read(fifo, 4096).decode()
            finally:
                os.close(fifo)
            assert lines == f"RS [127.0.0.2]:tcp:{dead} [10.0.0.1]:tcp:80 DOWN\n"
            results = {(r.real_server, r.checker): r.up for r in proc.checker_results()}
            assert results == {(f"127.0.0.1:{good}", "HTTP_GET"): True, (f"127.0.0.1:{good}", "MISC_CHECK"): True,
                               (f"127.0.0.2:{dead}", "TCP_CHECK"): False}
            assert {r.virtual_server for r in proc.checker_results()} == {"TCP 10.0.0.1:80"}
            proc.stop()
            await runner
            assert not (tmp_path / "lvs.fifo").exists()  # we made the FIFO, we removed it
            return start, settled, await listing()

    caplog.set_level(logging.INFO, "pykeepalived.checker")
    start, settled, end = asyncio.run(go())
    lines = [r.getMessage() for r in caplog.records]
    assert "Activating healthchecker for service [127.0.0.2]:tcp:" in "\n".join(lines)
    assert any(m.startswith("TCP_CHECK on service [127.0.0.2]:tcp:") and m.endswith(" failed.") for m in lines)
    assert any(m.startswith("Removing service [127.0.0.2]:tcp:") and m.endswith(" from VS [10.0.0.1]:tcp:80")
               for m in lines)
    assert any(m.startswith("Changing weight from 1 to 5 for active service [127.0.0.1]:tcp:") for m in lines)
    assert "127.0.0.1" in start and "127.0.0.2" in start  # both start in (no alpha)
    assert "  -> 127.0.0.1:" in settled and "127.0.0.2" not in settled
    assert "TCP  10.0.0.1:80 rr" in settled
    assert "10.0.0.1:80" not in end  # our service is removed at exit


def test_ha_suspend_runs_checks_only_while_the_vip_is_here(tmp_path: Path) -> None:
    async def go() -> None:
        f = tmp_path / "keepalived.conf"
        port = closed_port("127.0.0.2")
        f.write_text(f"""
virtual_server 10.0.0.1 80 {{
    lb_algo rr
    lb_kind NAT
    protocol TCP
    delay_loop 1
    warmup 0
    ha_suspend
    real_server 127.0.0.2 {port} {{
        TCP_CHECK {{
            connect_timeout 1
        }}
    }}
}}
""")
        res = load_config(str(f), config_id="main", host=HOST)
        backend = MemoryBackend()
        here: list[str] = []
        proc = CheckerProcess(build_lvs(res.config), backend, resync_interval=0.2, local_addresses=lambda: here)
        runner = asyncio.create_task(proc.run())
        key = f"[10.0.0.1]:tcp:80|[127.0.0.2]:tcp:{port}/c0"  # a check's key: its virtual and real server, its place
        await until(lambda: key in proc.driver.scheduler.checks)
        machine = proc.driver.scheduler.checks[key]
        first = machine.deadline
        assert first is not None
        await until(lambda: machine.deadline is not None and machine.deadline > first)  # ticked once, disabled
        assert not machine.enabled and not machine.has_run
        assert "127.0.0.2" in format_list(await backend.list_services())
        here.append("10.0.0.1")  # the VIP arrives: the check runs and finds the server dead
        await until(lambda: machine.has_run and not machine.is_up)
        async with asyncio.timeout(15):
            while "127.0.0.2" in format_list(await backend.list_services()):
                await asyncio.sleep(0.05)
        proc.stop()
        await runner
    asyncio.run(go())


class FlakyBackend(MemoryBackend):
    """A MemoryBackend whose per-service reads fail ``fail`` times (a netlink hiccup)."""

    def __init__(self, fail: int) -> None:
        super().__init__()
        self.fail = fail

    async def get_service(self, key: ServiceKey) -> ServiceState | None:
        if self.fail:
            self.fail -= 1
            raise IPVSError(errno.EIO, "get_service")
        return await super().get_service(key)


def test_a_failed_sync_is_retried_until_the_table_converges(tmp_path: Path) -> None:
    async def go() -> None:
        f = tmp_path / "keepalived.conf"
        f.write_text(f"""
virtual_server 10.0.0.1 80 {{
    lb_algo rr
    lb_kind NAT
    protocol TCP
    delay_loop 1
    warmup 0
    real_server 127.0.0.2 {closed_port("127.0.0.2")} {{
        TCP_CHECK {{
            connect_timeout 1
        }}
    }}
}}
""")
        backend = FlakyBackend(fail=3)
        proc = CheckerProcess(build_lvs(load_config(str(f), config_id="main", host=HOST).config), backend,
                              resync_interval=60.0)
        runner = asyncio.create_task(proc.run())
        async with asyncio.timeout(15):
            while "127.0.0.2" in format_list(await backend.list_services()) or not proc.sync_results:
                await asyncio.sleep(0.05)
        assert backend.fail < 3  # a changed-service sync failed; the full sync a second later repaired it
        proc.stop()
        await runner
    asyncio.run(go())
