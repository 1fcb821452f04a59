"""The checker process's asyncio core: the health checks (``checkers.io.driver``), the virtual-server manager
(``checkers.core.pool``) and one IPVS backend kept equal to the pool through ``ipvs.sync``.

Flow: a probe ends -> the check's state machine may give a verdict or a weight -> the pool turns that into log
lines, notify scripts and "this virtual server changed" -> only the changed services are re-synced
(``SyncEngine.sync_changed``); a full sync runs at start and every ``resync_interval`` to repair what someone else
changed behind our back. Syncs are serialized and coalesced, so a burst of verdicts costs one sync per service.

Notify FIFOs (``notify_fifo``, ``lvs_notify_fifo``) get keepalived's ``VS ...``/``RS ...`` lines through
``vrrp.io.notify.NotifyFifo`` (never blocking). Scripts (MISC_CHECK and notify/quorum) run through
``vrrp.io.scripts.run_script``: no shell, own process group, pidfd-awaited (no thread per child), killed on
timeout or shutdown.

Reload (SIGHUP, forwarded by the watchdog): the configuration is re-read off the loop (the daemon's loader is a
worker process, ``checker_reload``: checks keep running and keep their times); one that cannot run is refused
with its file:line and the running one stays.  Otherwise ``pykeepalived.daemon.lvs.plan_reload`` decides
from the two settings alone: unchanged checks keep their state machines, unchanged virtual servers their pool
state and IPVS entries (no IPVS read or write for them), changed ones are re-synced with the minimal writes,
removed ones go, new ones start.  SIGHUPs during a reload queue one more.  The process around it
(``pykeepalived -C``: signals, pid file) is ``child.py``'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, assert_never

from checkers.core.machine import LogLine, Verdict, WeightChanged
from checkers.core.pool import (
    FifoLine,
    PoolAction,
    QuorumChanged,
    RealServerShut,
    RunScript,
    Script,
    TableChanged,
)
from checkers.core.spec import CheckSpec, MiscProbe, ProbeResult
from checkers.io.driver import CheckerDriver
from checkers.io.misc import verdict as misc_verdict
from checkers.io.probes import run_probe
from ipvs.backend import Backend
from ipvs.errors import IPVSError
from ipvs.model import SyncDaemon
from ipvs.sync import SyncEngine, SyncResult
from pykeepalived.daemon.heap import freeze_now
from pykeepalived.daemon.lvs import LvsSettings, plan_reload
from pykeepalived.daemon.snapshot import CheckerResult
from pykeepalived.daemon.syncd import SyncdKeeper
from vrrp.io.notify import NotifyFifo
from vrrp.io.scripts import ScriptUser, run_script

if TYPE_CHECKING:  # the mailer (aiosmtplib) loads only where mail is configured: start-up stays fast
    from pykeepalived.daemon.smtp_alert import CheckerMailer, SmtpSettings

log = logging.getLogger("pykeepalived.checker")

#: how long a notify script may run before it is killed (keepalived gives notify scripts no limit; we bound it)
NOTIFY_TIMEOUT = 60.0


def _user(uid: int | str | None, gid: int | str | None) -> ScriptUser | None:
    if isinstance(uid, int) and isinstance(gid, int):
        return ScriptUser(uid, gid)
    return None


async def probe(spec: CheckSpec) -> ProbeResult:
    """run_probe, with MISC_CHECK's script run by vrrp.io.scripts (the daemon's one script runner)."""
    if not isinstance(spec.probe, MiscProbe):
        return await run_probe(spec)
    p = spec.probe
    res = await run_script(p.argv, timeout=spec.probe_timeout, user=_user(p.user, p.group))
    if res.error:
        return ProbeResult(False, f"Misc check could not run ({res.error}) for")
    if res.timed_out:
        return ProbeResult(False, "Misc check timed out for")
    return misc_verdict(p, res.returncode if res.returncode is not None else -(res.signal or 0))


class ConfigReloadError(Exception):
    """The re-read configuration cannot run; the message names the file and line (keepalived's wording)."""


@dataclass(frozen=True)
class Reloaded:
    """A re-read configuration, as this process runs it: the LVS settings, the sync daemons it runs (those of
    an ``lvs_sync_daemon`` without a VRRP instance) and the mail settings (None: no mail)."""

    lvs: LvsSettings
    sync_daemons: tuple[SyncDaemon, ...] = ()
    smtp: SmtpSettings | None = None


#: a reload's configuration source (the daemon's reads in a worker process: ``checker_reload``)
Loader = Callable[[], Awaitable[Reloaded]]


@dataclass(frozen=True)
class ReloadReport:
    """What one applied reload did (logged; the tests read it)."""

    kept_checks: int
    restarted_checks: int
    virtual_servers_changed: int
    virtual_servers_removed: int
    ipvs_writes: int


class CheckerProcess:
    """Runs the checks of ``settings`` and keeps ``backend`` converged until :meth:`stop`."""

    def __init__(self, settings: LvsSettings, backend: Backend, *, resync_interval: float = 60.0,
                 local_addresses: Callable[[], Iterable[str]] | None = None, keep_on_exit: bool = False,
                 sync_daemons: tuple[SyncDaemon, ...] = (), loader: Loader | None = None,
                 mail: CheckerMailer | None = None, freeze_heap: bool = False) -> None:
        self.settings = settings
        #: the daemon's own process: the settings, pool and check machines built before :meth:`run` leave the
        #: cyclic collector's reach (``heap``; the reload's loader freezes what it builds)
        self.freeze_heap = freeze_heap
        #: e-mail alerts of check verdicts, quorum changes and real servers leaving (None: no mail configured)
        self.mail = mail
        self._owners_of: LvsSettings | None = None
        self._owner_map: dict[str, tuple[str, str]] = {}
        #: re-reads the configuration for a reload (off the loop); ConfigReloadError names file:line
        self.loader = loader
        self.reloads: list[ReloadReport] = []
        self._reload_wanted = False
        self._reload_task: asyncio.Task[None] | None = None
        self._sync_lock = asyncio.Lock()
        #: lvs_sync_daemon without a VRRP instance: master and backup, from start to stop (keepalived's checker
        #: process; with an instance the VRRP process runs it)
        self.sync_daemons = sync_daemons
        self.syncd = SyncdKeeper(lambda: backend, owns_backend=False) if sync_daemons else None
        self.pool = settings.new_pool()
        self.engine = SyncEngine(backend)
        self.driver = CheckerDriver(self._on_check, prober=probe)
        self.resync_interval = resync_interval
        self.local_addresses = local_addresses
        self.keep_on_exit = keep_on_exit
        self.sync_results: list[SyncResult] = []
        self._dirty: set[str] = set()
        self._kick = asyncio.Event()
        self._stop = asyncio.Event()
        self._scripts: set[asyncio.Task[None]] = set()
        self.fifos = [NotifyFifo(path) for path in settings.fifos]

    def stop(self) -> None:
        self._stop.set()

    # ------------------------------------------------------------------ reload (SIGHUP)

    def request_reload(self) -> None:
        """SIGHUP: re-read and apply the difference; serialized (one more reload runs after the current one,
        however many SIGHUPs came meanwhile)."""
        if self.loader is None:
            log.warning("Reload (SIGHUP): no configuration source; configuration unchanged")
            return
        if self._stop.is_set():
            return
        self._reload_wanted = True
        if self._reload_task is None or self._reload_task.done():
            self._reload_task = asyncio.create_task(self._reload_loop(), name="reload")

    async def _reload_loop(self) -> None:
        loader = self.loader
        assert loader is not None
        loop = asyncio.get_running_loop()
        while self._reload_wanted and not self._stop.is_set():
            self._reload_wanted = False
            started = loop.time()
            log.info("Reloading ...")
            try:  # the daemon's loader reads in a worker process (checker_reload): checks keep their times
                reloaded = await loader()
            except ConfigReloadError as exc:
                log.error("%s", exc)
                log.error("Reload failed: keeping the running configuration")
                continue
            except Exception:
                log.exception("Reload failed: keeping the running configuration")
                continue
            if self._stop.is_set():
                return
            if self.mail is not None and reloaded.smtp is not None:
                self.mail.alerter.settings = reloaded.smtp  # a mail set up after start takes a restart
            report = await self.reload(reloaded.lvs, reloaded.sync_daemons)
            log.info("Reload: %d checks kept, %d (re)started, %d virtual servers changed or new, %d removed, "
                     "%d IPVS writes", report.kept_checks, report.restarted_checks,
                     report.virtual_servers_changed, report.virtual_servers_removed, report.ipvs_writes)
            log.info("Reload complete")
            log.info("Reload finished in %d usec", int((loop.time() - started) * 1_000_000))

    async def reload(self, new: LvsSettings, sync_daemons: tuple[SyncDaemon, ...] = ()) -> ReloadReport:
        """Apply ``new`` as a difference (``plan_reload`` decides; see the module docstring)."""
        loop = asyncio.get_running_loop()
        plan = plan_reload(self.settings, new)
        check_up = {k: m.is_up for k, m in self.driver.scheduler.checks.items() if k in plan.kept}
        for key in plan.stopped:
            self.driver.remove(key)
        actions, _removed = self.pool.reconfigure(new.pool, check_up)
        self.settings = new  # from here on every sync and verdict sees the new settings
        self._dispatch(actions)
        if plan.started:
            self.driver.add(plan.started)
            started = {c.key for c in plan.started}
            for vs in new.pool:
                for rs in vs.real_servers:
                    for _ in started.intersection(rs.checks):
                        log.info("Activating healthchecker for service %s for VS %s", rs.name, vs.name)
        self._apply_ha_suspend()
        writes = 0
        if plan.service_keys:
            async with self._sync_lock:
                self._dirty -= plan.dirty | plan.removed
                result = await self.engine.sync_changed(new.desired(self.pool, plan.dirty), plan.service_keys,
                                                        loop.time())
            self.sync_results.append(result)
            for op, err in result.errors:
                log.error("IPVS: %s failed: %s", op, err)
            writes = result.writes
        if sync_daemons != self.sync_daemons:
            self.sync_daemons = sync_daemons
            if self.syncd is None and sync_daemons:
                self.syncd = SyncdKeeper(lambda: self.engine.backend, owns_backend=False)
            if self.syncd is not None:
                self.syncd.want(sync_daemons)
        report = ReloadReport(len(plan.kept), len(plan.started), len(plan.dirty), len(plan.removed), writes)
        self.reloads.append(report)
        return report

    def checker_results(self) -> tuple[CheckerResult, ...]:
        """Every check's verdict now, named as the metrics and dumps name them (the virtual server by its first
        IPVS service, the real server by its destination)."""
        out = []
        kinds = {c.key: c.kind for c in self.settings.checks}
        for vs in self.settings.pool:
            vs_name = str(self.settings.services[vs.key][0].key)
            for rs in vs.real_servers:
                rs_name = str(self.settings.dests[(vs.key, rs.key)].key)
                for check in rs.checks:
                    machine = self.driver.scheduler.checks.get(check)
                    up = machine.is_up if machine is not None else check not in rs.alpha_checks
                    out.append(CheckerResult(vs_name, rs_name, kinds[check], up))
        return tuple(out)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for fifo in self.fifos:
            fifo.open()
        if self.mail is not None:
            self.mail.alerter.start()
        if self.syncd is not None:
            self.syncd.want(self.sync_daemons)
        self._dispatch(self.pool.start())
        self._dirty.clear()
        self.sync_results.append(await self.engine.sync(self.settings.desired(self.pool), loop.time()))
        for vs in self.settings.pool:
            for rs in vs.real_servers:
                for _ in rs.checks:
                    log.info("Activating healthchecker for service %s for VS %s", rs.name, vs.name)
        self.driver.add(self.settings.checks)
        self._apply_ha_suspend(initial=True)
        if self.freeze_heap:
            freeze_now()  # the settings, pool and check machines live as long as this configuration
        checks = asyncio.create_task(self.driver.run())
        syncer = asyncio.create_task(self._sync_loop())
        try:
            await self._stop.wait()
        finally:
            self.driver.stop()
            if self._reload_task is not None and not self._reload_task.done():
                self._reload_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._reload_task
            await checks
            syncer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await syncer
            self._dispatch(self.pool.shutdown())
            if not self.keep_on_exit:
                self.sync_results.append(await self.engine.sync([], loop.time()))
            if self.syncd is not None:  # stopped at exit, -I or not (check_daemon.c checker_terminate_phase2)
                self.syncd.want(())
                await self.syncd.close()
            if self.mail is not None:  # the stop's own alerts go out first, briefly
                await self.mail.alerter.aclose(grace=1.5)
            if self._scripts:
                await asyncio.wait(self._scripts, timeout=NOTIFY_TIMEOUT)
            for fifo in self.fifos:
                fifo.close()

    def _apply_ha_suspend(self, initial: bool = False) -> None:
        if self.local_addresses is None or not self.settings.ha_suspend:
            return
        for key, enabled in self.settings.check_enabled(self.local_addresses()).items():
            machine = self.driver.scheduler.checks.get(key)
            if machine is not None and machine.enabled != enabled:
                if not initial:
                    log.info("%sctivating healthchecker %s", "A" if enabled else "Dea", key)
                self.driver.set_enabled(key, enabled)

    async def _sync_loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_full = loop.time() + self.resync_interval
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, next_full - loop.time())):
                    await self._kick.wait()
            self._kick.clear()
            full = loop.time() >= next_full
            if not full and not self._dirty:
                continue
            try:
                async with self._sync_lock:  # a reload's own sync and this one never interleave
                    changed, self._dirty = self._dirty & set(self.settings.services), set()
                    if full:
                        self._apply_ha_suspend()
                        result = await self.engine.sync(self.settings.desired(self.pool), loop.time())
                        next_full = loop.time() + self.resync_interval
                    else:
                        result = await self.engine.sync_changed(self.settings.desired(self.pool, changed),
                                                                self.settings.service_keys(changed), loop.time())
            except (IPVSError, OSError) as exc:  # the table could not even be read: try again shortly
                log.error("IPVS sync failed: %s", exc)
                self._dirty |= changed
                next_full = loop.time() + 1.0  # a full sync a second from now repairs whatever is left
                continue
            self.sync_results.append(result)
            for op, err in result.errors:
                log.error("IPVS: %s failed: %s", op, err)

    def _on_check(self, action: Verdict | WeightChanged | LogLine) -> None:
        match action:
            case LogLine():
                log.info("%s", action.message)
            case Verdict():
                owner = self._owners().get(action.key) if self.mail is not None and action.changed else None
                before = self.pool.alive(*owner) if owner is not None else None
                self._dispatch(self.pool.on_check(action))
                if owner is not None:
                    self._mail_verdict(action, owner, before)
            case WeightChanged():
                self._dispatch(self.pool.on_check(action))
            case _:
                assert_never(action)

    def _owners(self) -> dict[str, tuple[str, str]]:
        """Check key -> the (virtual server, real server) keys it belongs to, for the settings now."""
        if self._owners_of is not self.settings:
            self._owner_map = {c: (vs.key, rs.key) for vs in self.settings.pool for rs in vs.real_servers
                               for c in rs.checks}
            self._owners_of = self.settings
        return self._owner_map

    def _mail_verdict(self, verdict: Verdict, owner: tuple[str, str], before: bool | None) -> None:
        assert self.mail is not None
        vs_key, rs_key = owner
        vs = next(v for v in self.settings.pool if v.key == vs_key)
        rs = next(r for r in vs.real_servers if r.key == rs_key)
        kind = next((c.kind for c in self.settings.checks if c.key == verdict.key), "")
        self.mail.verdict(rs.name, vs.name, kind, verdict.up, own=self.settings.smtp_alert.get(rs_key),
                          membership_changed=before != self.pool.alive(vs_key, rs_key))

    def _dispatch(self, actions: list[PoolAction]) -> None:
        for action in actions:
            match action:
                case LogLine():
                    log.info("%s", action.message)
                case RunScript():
                    task = asyncio.create_task(self._run_script(action.script, action.why))
                    self._scripts.add(task)
                    task.add_done_callback(self._scripts.discard)
                case FifoLine():
                    for fifo in self.fifos:
                        fifo.write(action.line)
                case TableChanged():
                    self._dirty.add(action.vs_key)
                    self._kick.set()
                case QuorumChanged():
                    if self.mail is not None:
                        self.mail.quorum(action.name, up=action.up, init=action.init, quorum=action.quorum,
                                         hysteresis=action.hysteresis, threshold=action.threshold,
                                         weight=action.weight, stopping=action.stopping,
                                         own=self.settings.smtp_alert.get(action.vs_key))
                case RealServerShut():
                    if self.mail is not None:
                        self.mail.real_server_shut(action.rs_name, action.vs_name, stopping=action.stopping,
                                                   own=self.settings.smtp_alert.get(action.rs_key))
                case _:
                    assert_never(action)

    async def _run_script(self, script: Script, why: str) -> None:
        res = await run_script(script.argv, timeout=NOTIFY_TIMEOUT, user=_user(script.user, script.group))
        if not res.ok:
            log.warning("%s: %s %s", why, script.argv[0], res.error or f"exited {res.returncode}")
