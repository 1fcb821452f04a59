"""``lvs_sync_daemon`` (pykeepalived.daemon.syncd): keepalived 2.2.7's keyword forms and defaults, the pure plan
that converges the kernel's sync daemons, and the VRRP process's keeper following the named instance through its
states (backup at start, master only while MASTER, backup after, stopped at stop) against ipvs' memory oracle.
The real kernel: tests/kernel/test_lvs_sync_daemon_kernel.py."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipvs.memory import MemoryBackend
from ipvs.model import STATE_BACKUP, STATE_MASTER, SyncDaemon
from pykeepalived.config import load_config
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.daemon.settings import SettingsError
from pykeepalived.daemon.syncd import (
    StartDaemon,
    StopDaemon,
    SyncdKeeper,
    SyncdSettings,
    build_syncd,
    desired_daemons,
    plan_daemons,
)
from pykeepalived.daemon.vrrp_main import VrrpProcess
from vrrp.core.state import State

INSTANCE = ("vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n priority 100\n"
            " virtual_ipaddress {\n  10.0.0.100/24\n }\n}\n")


def conf(tmp_path: Path, globals_: str = "", instance: str = INSTANCE) -> Path:
    f = tmp_path / "keepalived.conf"
    f.write_text(f"global_defs {{\n{globals_}\n}}\n{instance}")
    return f


def cfg(tmp_path: Path, line: str) -> KeepalivedConfig:
    return load_config(str(conf(tmp_path, line))).config


@pytest.mark.parametrize(("line", "want"), [
    ("lvs_sync_daemon eth1 VI_1", SyncdSettings("eth1", "VI_1", 51)),  # id: the instance's VRID
    ("lvs_sync_daemon eth1 inst VI_1 id 7", SyncdSettings("eth1", "VI_1", 7)),
    ("lvs_sync_daemon eth1 VI_1 9", SyncdSettings("eth1", "VI_1", 9)),  # the old positional SYNC_ID
    ("lvs_sync_daemon eth1 VI_1 id 0 maxlen 1400 port 9000 ttl 3 group 239.1.2.3",
     SyncdSettings("eth1", "VI_1", 0, 1400, 9000, 3, "239.1.2.3")),
    ("lvs_sync_daemon eth1", SyncdSettings("eth1", None, 0)),  # no instance: the checker process runs both
    ("lvs_sync_daemon eth1 group ff02::81", SyncdSettings("eth1", None, 0, group="ff02::81")),
])
def test_keyword_forms_and_keepalived_defaults(tmp_path: Path, line: str, want: SyncdSettings) -> None:
    assert build_syncd(cfg(tmp_path, line)) == want


def test_the_deprecated_instance_keyword_follows_its_instance(tmp_path: Path) -> None:
    text = INSTANCE.replace(" priority 100\n", " priority 100\n lvs_sync_daemon_interface eth2\n")
    c = load_config(str(conf(tmp_path, instance=text))).config
    assert build_syncd(c) == SyncdSettings("eth2", "VI_1", 51)
    assert build_syncd(cfg(tmp_path, "")) is None


@pytest.mark.parametrize(("line", "error"), [
    ("lvs_sync_daemon eth1 VI_9", "unable to find vrrp instance VI_9"),
    ("lvs_sync_daemon eth1 VI_1 id 256", r"invalid id \(256\)"),
    ("lvs_sync_daemon eth1 VI_1 id", "no value specified for id"),
    ("lvs_sync_daemon eth1 VI_1 group 10.0.0.1", "group address 10.0.0.1 is not multicast"),
    ("lvs_sync_daemon eth1 VI_1 group nonsense", r"invalid group \(nonsense\)"),
    ("lvs_sync_daemon eth1 VI_1 port 0", r"invalid port \(0\)"),
    ("lvs_sync_daemon eth1 VI_1 7 frob", "unknown option frob"),
    ("lvs_sync_daemon averyveryverylongname VI_1", "interface name 'averyveryverylongname' too long"),
])
def test_values_we_cannot_honour_are_refused_by_name(tmp_path: Path, line: str, error: str) -> None:
    with pytest.raises(SettingsError, match=f"global_defs: lvs_sync_daemon: {error}"):
        build_syncd(cfg(tmp_path, line))


def test_one_role_by_state_or_both_without_an_instance() -> None:
    s = SyncdSettings("eth1", "VI_1", 7)
    assert desired_daemons(s, master=True) == (SyncDaemon(STATE_MASTER, "eth1", 7),)
    assert desired_daemons(s, master=False) == (SyncDaemon(STATE_BACKUP, "eth1", 7),)
    assert desired_daemons(s, master=None) == ()
    both = SyncdSettings("eth1", None, 0)
    assert [d.state for d in desired_daemons(both, master=False)] == [STATE_MASTER, STATE_BACKUP]
    assert desired_daemons(None, master=True) == ()


def test_switching_roles_stops_first_then_starts_as_keepalived() -> None:
    m, b = SyncDaemon(STATE_MASTER, "eth1", 7), SyncDaemon(STATE_BACKUP, "eth1", 7)
    assert plan_daemons([m], [b]) == [StopDaemon(STATE_BACKUP), StartDaemon(m)]
    assert plan_daemons([m], [SyncDaemon(STATE_MASTER, "eth1", 7, 1472, "224.0.0.81", 8848, 1)]) == []
    m8 = SyncDaemon(STATE_MASTER, "eth1", 8)
    assert plan_daemons([m8], [m]) == [StopDaemon(STATE_MASTER), StartDaemon(m8)]


_daemons = st.builds(SyncDaemon, st.sampled_from([STATE_MASTER, STATE_BACKUP]), st.sampled_from(["eth0", "lo"]),
                     st.integers(0, 3), st.sampled_from([0, 1200]), st.sampled_from([None, "224.0.0.81", "239.0.0.9"]),
                     st.sampled_from([0, 8848, 9000]), st.sampled_from([0, 1, 2]))


@given(st.lists(_daemons, max_size=2, unique_by=lambda d: d.state),
       st.lists(_daemons, max_size=2, unique_by=lambda d: d.state))
def test_the_plan_reaches_the_desired_daemons_and_then_has_nothing_left(
        before: list[SyncDaemon], desired: list[SyncDaemon]) -> None:
    """Property: whatever runs, the plan's commands succeed on the kernel's oracle and leave exactly the desired
    roles with the desired settings (as the kernel reports them); a second plan for the same keeper is empty."""

    async def go() -> None:
        backend = MemoryBackend(interfaces={"eth0": 1500, "lo": 1500})
        for d in before:
            await backend.start_daemon(d)
        keeper = SyncdKeeper(lambda: backend)
        keeper.want(tuple(desired))
        await keeper.settle()
        assert sorted(d.state for d in await backend.list_daemons()) == sorted(d.state for d in desired)
        for d in await backend.list_daemons():
            want = next(w for w in desired if w.state == d.state)
            assert (d.mcast_ifn, d.syncid) == (want.mcast_ifn, want.syncid)
            assert want.mcast_group in (None, d.mcast_group) and want.mcast_port in (0, d.mcast_port)
        writes = keeper.writes
        keeper.want(tuple(desired))
        await keeper.settle()
        assert keeper.writes == writes  # converged: no command (a backup's clamped maxlen included)
        await keeper.close()

    asyncio.run(go())


def test_the_vrrp_process_runs_the_daemon_its_instance_calls_for(tmp_path: Path) -> None:
    """Backup at start (INIT counts as starting), master only while MASTER (the backup stopped first), backup
    again on leaving MASTER for BACKUP or FAULT, unchanged from BACKUP to FAULT, and nothing after the stop."""
    path = conf(tmp_path, "lvs_sync_daemon eth1 VI_1 id 7")
    backend = MemoryBackend(interfaces={"eth1": 1500})

    async def roles() -> list[str]:
        await keeper().settle()
        return [d.state_name for d in await backend.list_daemons()]

    def keeper() -> SyncdKeeper:
        assert p.syncd_keeper is not None
        return p.syncd_keeper

    p = VrrpProcess(str(path), load_config(str(path)).config)
    p.syncd_backend = lambda: backend

    async def go() -> None:
        p.state_changed("VI_1", State.INIT, State.BACKUP)
        assert await roles() == ["backup"]
        p.state_changed("VI_1", State.BACKUP, State.MASTER)
        assert await roles() == ["master"]
        assert keeper().writes == 3  # start backup, stop backup, start master
        p.state_changed("VI_1", State.MASTER, State.FAULT)
        assert await roles() == ["backup"]
        p.state_changed("VI_1", State.FAULT, State.BACKUP)
        writes = keeper().writes
        assert await roles() == ["backup"] and keeper().writes == writes
        p.state_changed("VI_1", State.BACKUP, State.MASTER)
        p.state_changed("VI_2", State.MASTER, State.BACKUP)  # another instance: no effect
        assert await roles() == ["master"]
        assert (await backend.list_daemons())[0].syncid == 7
        p.state_changed("VI_1", State.MASTER, State.INIT)  # the stop
        assert await roles() == []
        await p.closing()
        assert await backend.list_daemons() == [] and p.syncd_keeper is None

    asyncio.run(go())


def test_a_daemon_without_an_instance_is_the_checker_processes_not_the_vrrp_processes(tmp_path: Path) -> None:
    path = conf(tmp_path, "lvs_sync_daemon eth1")
    p = VrrpProcess(str(path), load_config(str(path)).config)
    assert p.syncd is None
    asyncio.run(_no_keeper(p))


async def _no_keeper(p: VrrpProcess) -> None:
    p.state_changed("VI_1", State.BACKUP, State.MASTER)
    assert p.syncd_keeper is None


def test_a_reload_moves_the_daemon_with_the_configuration(tmp_path: Path) -> None:
    """keepalived's reload (vrrp_daemon.c): a changed lvs_sync_daemon restarts the daemon of the instance's
    state with the new settings; one the new file no longer has is stopped; a refused file changes nothing."""
    from types import SimpleNamespace
    from typing import Any

    from vrrp.io.driver import ReloadError

    path = conf(tmp_path, "lvs_sync_daemon eth1 VI_1 id 7")
    backend = MemoryBackend(interfaces={"eth1": 1500})
    p = VrrpProcess(str(path), load_config(str(path)).config)
    p.syncd_backend = lambda: backend
    daemon: Any = SimpleNamespace(instances=[SimpleNamespace(name="VI_1", router=SimpleNamespace(state=State.MASTER))])

    async def running() -> list[tuple[str, int]]:
        assert p.syncd_keeper is not None
        await p.syncd_keeper.settle()
        return [(d.state_name, d.syncid) for d in await backend.list_daemons()]

    async def go() -> None:
        await p.started(daemon)
        p.ready()  # started: the daemon of the instance's state now
        assert await running() == [("master", 7)]
        conf(tmp_path, "lvs_sync_daemon eth1 VI_1 id 8")
        p.load()
        p.ready()
        assert await running() == [("master", 8)]
        conf(tmp_path, "lvs_sync_daemon eth1 VI_9")
        with pytest.raises(ReloadError, match="unable to find vrrp instance VI_9"):
            p.load()
        p.ready()  # the refused reload: the running configuration stays
        assert await running() == [("master", 8)]
        conf(tmp_path, "")
        p.load()
        p.ready()
        assert await running() == []
        await p.closing()

    asyncio.run(go())
