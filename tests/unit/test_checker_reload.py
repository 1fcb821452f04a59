"""Checker-process reload (SIGHUP; issue 14 item 3): the decisions from two settings alone
(``pykeepalived.daemon.lvs.plan_reload``, ``checkers.core.pool.Pool.reconfigure``), and the process applying
them against the IPVS oracle with real probes on loopback: an unchanged configuration costs no IPVS write and
restarts no check; a changed one the minimal writes; a removed virtual server goes, a new one starts; a broken
configuration is refused with its file:line and the running one stays; reloads serialize."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from checkers.core.machine import Verdict
from checkers.core.pool import TableChanged
from ipvs.formats import format_list
from ipvs.memory import MemoryBackend
from ipvs.model import ServiceKey
from netns_lab.servers import closed_port, http_server
from pykeepalived.config import HostView, load_config
from pykeepalived.daemon.checker_process import CheckerProcess, ConfigReloadError, Reloaded
from pykeepalived.daemon.lvs import LvsSettings, build_lvs, plan_reload

HOST = HostView(interfaces=frozenset(), find_executable=lambda c: c, user_exists=lambda u: False)

VS_A = """virtual_server 10.0.0.1 80 {{
    lb_algo rr
    lb_kind NAT
    protocol TCP
    delay_loop {delay}
    warmup 0
    real_server 127.0.0.1 {good} {{
        weight {weight}
        TCP_CHECK {{
            connect_timeout 1
        }}
    }}
    real_server 127.0.0.2 {dead} {{
        TCP_CHECK {{
            connect_timeout 1
        }}
    }}
}}
"""
VS_B = """virtual_server 10.0.0.2 443 {{
    lb_algo wlc
    lb_kind NAT
    protocol TCP
    delay_loop {delay}
    warmup 0
    real_server 127.0.0.1 {good} {{
        TCP_CHECK {{
            connect_timeout 1
        }}
    }}
}}
"""
VS_C = VS_B.replace("10.0.0.2 443", "10.0.0.3 8080")


def settings(tmp_path: Path, *blocks: str, good: int = 1, dead: int = 2, weight: int = 1,
             delay: int = 1) -> LvsSettings:
    f = tmp_path / "keepalived.conf"
    f.write_text("".join(b.format(good=good, dead=dead, weight=weight, delay=delay) for b in blocks))
    return build_lvs(load_config(str(f), config_id="main", host=HOST).config)


A, B = "[10.0.0.1]:tcp:80", "[10.0.0.2]:tcp:443"


def test_an_unchanged_configuration_changes_nothing(tmp_path: Path) -> None:
    old = settings(tmp_path, VS_A, VS_B)
    plan = plan_reload(old, settings(tmp_path, VS_B, VS_A))  # order does not matter: keys are identities
    assert plan.kept == {c.key for c in old.checks} and not plan.stopped and not plan.started
    assert not plan.dirty and not plan.removed and not plan.service_keys


def test_a_weight_change_dirties_its_virtual_server_only_and_restarts_no_check(tmp_path: Path) -> None:
    old = settings(tmp_path, VS_A, VS_B)
    plan = plan_reload(old, settings(tmp_path, VS_A, VS_B, weight=3))
    assert plan.dirty == {A} and not plan.stopped and not plan.started and not plan.removed
    assert plan.service_keys == {ServiceKey.inet(6, "10.0.0.1", 80)}


def test_a_changed_check_restarts_that_check_a_removed_server_goes_a_new_one_starts(tmp_path: Path) -> None:
    old = settings(tmp_path, VS_A, VS_B)
    new = settings(tmp_path, VS_A.replace("connect_timeout 1\n        }}\n    }}\n    real_server",
                                          "connect_timeout 2\n        }}\n    }}\n    real_server"), VS_C)
    plan = plan_reload(old, new)
    first = f"{A}|[127.0.0.1]:tcp:1/c0"
    assert plan.stopped == (first, f"{B}|[127.0.0.1]:tcp:1/c0")
    assert [c.key for c in plan.started] == [first, "[10.0.0.3]:tcp:8080|[127.0.0.1]:tcp:1/c0"]
    assert plan.kept == {f"{A}|[127.0.0.2]:tcp:2/c0"}
    # A's pool state restarts with its restarted check (the kept one keeps its verdict); its table is re-read
    assert plan.removed == {B} and plan.dirty == {A, "[10.0.0.3]:tcp:8080"}
    assert plan.service_keys == {ServiceKey.inet(6, a, p) for a, p in
                                 (("10.0.0.1", 80), ("10.0.0.2", 443), ("10.0.0.3", 8080))}


def test_the_pool_keeps_unchanged_servers_and_carries_kept_verdicts_into_changed_ones(tmp_path: Path) -> None:
    old = settings(tmp_path, VS_A, VS_B)
    pool = old.new_pool()
    pool.start()
    dead = f"{A}|[127.0.0.2]:tcp:2/c0"
    pool.on_check(Verdict(dead, False))
    b_state = pool.vs[B]
    new = settings(tmp_path, VS_A, VS_B, weight=4)
    actions, removed = pool.reconfigure(new.pool, {dead: False, f"{A}|[127.0.0.1]:tcp:1/c0": True,
                                                   f"{B}|[127.0.0.1]:tcp:1/c0": True})
    assert not removed and pool.vs[B] is b_state  # untouched
    assert actions == [TableChanged(A)]  # no verdict, no notify, no quorum line: only the table
    assert [(m.key, m.weight) for m in pool.members(A)] == [(f"{A}|[127.0.0.1]:tcp:1", 4)]  # the dead one stays out
    # the removed virtual server leaves with keepalived's line; a real server that left, with its own
    actions, removed = pool.reconfigure(settings(tmp_path, VS_A.replace("real_server 127.0.0.2", "real_server "
                                                                        "127.0.0.9")).pool, {})
    assert removed == {B}
    lines = [a.message for a in actions if hasattr(a, "message")]
    assert lines[0] == f"Removing Virtual Server {B}"
    assert "service [127.0.0.2]:tcp:2 no longer exist" in lines
    assert "Removing (inhibited) service" not in " ".join(lines)


async def until(cond: Callable[[], bool], limit: float = 15.0) -> None:
    async with asyncio.timeout(limit):
        while not cond():
            await asyncio.sleep(0.05)


def test_the_process_applies_reloads_with_minimal_writes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "pykeepalived.checker")

    async def go() -> None:
        async with http_server("127.0.0.1", {}) as good:
            dead = closed_port("127.0.0.2")

            def at(*blocks: str, weight: int = 1) -> LvsSettings:
                return settings(tmp_path, *blocks, good=good, dead=dead, weight=weight)

            backend = MemoryBackend()
            configs: list[LvsSettings | Exception] = []

            async def loader() -> Reloaded:
                item = configs.pop(0)
                if isinstance(item, Exception):
                    raise item
                return Reloaded(item)

            proc = CheckerProcess(at(VS_A, VS_B), backend, loader=loader)
            runner = asyncio.create_task(proc.run())
            async with asyncio.timeout(15):  # settled: the live one in, the dead one out
                while "127.0.0.2" in (now := format_list(await backend.list_services())) or "127.0.0.1" not in now:
                    await asyncio.sleep(0.05)
            machines = dict(proc.driver.scheduler.checks)
            deadlines = {k: m.deadline for k, m in machines.items()}
            applied = backend.ops_applied
            # 1. the same configuration: no IPVS write, not even a read of the table; the same machines
            report = await proc.reload(at(VS_A, VS_B))
            assert report.ipvs_writes == 0 and backend.ops_applied == applied
            assert proc.driver.scheduler.checks == machines
            assert all(proc.driver.scheduler.checks[k] is m for k, m in machines.items())
            assert {k: m.deadline for k, m in machines.items()} == deadlines  # no check restarted
            # 2. a weight: one edit
            report = await proc.reload(at(VS_A, VS_B, weight=5))
            assert report.ipvs_writes == 1 and report.restarted_checks == 0, proc.sync_results[-1].planned
            assert "Masq    5" in format_list(await backend.list_services())
            # 3. B removed, C added: one delete, one service add and its destination
            report = await proc.reload(at(VS_A, VS_C, weight=5))
            assert report.ipvs_writes == 3 and report.virtual_servers_removed == 1
            listing = format_list(await backend.list_services())
            assert "10.0.0.2:443" not in listing and "10.0.0.3:8080" in listing
            # 4. through SIGHUP's path: a broken configuration is refused, the next good one applies; two
            #    requests while one runs make one more reload, not two
            configs.extend([ConfigReloadError(f"{tmp_path}/keepalived.conf:3: bad"), at(VS_A, VS_B)])
            proc.request_reload()  # refused
            await until(lambda: len(configs) == 1)
            proc.request_reload()  # the fixed file, by the next SIGHUP
            await until(lambda: not configs)
            await until(lambda: len(proc.reloads) == 4)  # the refused one is no reload
            listing = format_list(await backend.list_services())
            assert "10.0.0.2:443" in listing and "10.0.0.3:8080" not in listing
            configs.append(at(VS_A, weight=5))
            proc.request_reload()
            proc.request_reload()
            proc.request_reload()
            await until(lambda: len(proc.reloads) == 5)
            await asyncio.sleep(0.2)
            assert len(proc.reloads) == 5 and not configs  # the queued requests collapsed into the one
            proc.stop()
            await runner

    asyncio.run(go())
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert f"{tmp_path}/keepalived.conf:3: bad" in text and "Reload failed: keeping the running configuration" in text
    assert "Removing Virtual Server [10.0.0.2]:tcp:443" in text
    assert text.count("Reload complete") == 2  # the SIGHUP-path reloads (direct reload() calls log nothing)
