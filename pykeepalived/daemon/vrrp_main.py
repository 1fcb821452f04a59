"""What the VRRP process adds around ``vrrp.io.driver.VrrpDaemon``: reload, keepalived's dumps, e-mail alerts, the
IPVS connection-sync daemon following its instance (``lvs_sync_daemon``, as keepalived's VRRP process) and
the opt-in metrics endpoint (systemd is told by the watchdog parent, which owns NOTIFY_SOCKET), handed to the
driver as ``DaemonHooks`` (``vrrp`` never imports
``pykeepalived``, so the configuration model, the dump formats and the mailers are composed here).
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pykeepalived.config import load_config
from pykeepalived.config.errors import Severity
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.daemon.settings import SettingsError, build_settings
from vrrp.core.state import State
from vrrp.io.driver import DaemonHooks, ReloadError, VrrpDaemon
from vrrp.io.spec import DaemonSettings

if TYPE_CHECKING:  # the formatters, mailers and the metrics server load when first used: start-up stays fast
    from ipvs.backend import Backend
    from pykeepalived.daemon.metrics import MetricsServer
    from pykeepalived.daemon.smtp_alert import SmtpAlerter, TransitionMailer
    from pykeepalived.daemon.snapshot import DaemonSnapshot
    from pykeepalived.daemon.syncd import SyncdKeeper, SyncdSettings

log = logging.getLogger("pykeepalived.vrrp")

_FILES = {"data": "keepalived.data", "stats": "keepalived.stats", "stats_clear": "keepalived.stats",
          "json": "keepalived.json"}


class VrrpProcess:
    """The configuration source and the companions of one VRRP process (see the module docstring)."""

    def __init__(self, path: str, config: KeepalivedConfig, *, config_id: str | None = None,
                 metrics_listen: str | None = None) -> None:
        self.path = path
        self.config_id = config_id
        self.config = config
        self.metrics_listen = metrics_listen
        self.metrics: MetricsServer | None = None
        self.alerter: SmtpAlerter | None = None
        self.mailer: TransitionMailer | None = None
        self.released: Counter[str] = Counter()  # transitions out of MASTER, per instance (keepalived's stat)
        self._daemon: VrrpDaemon | None = None
        self._configure_mail()
        self.syncd: SyncdSettings | None = None
        self.syncd_keeper: SyncdKeeper | None = None
        self.syncd_backend: Callable[[], Backend] = _kernel_backend  # the tests put an ipvs.memory oracle here
        self._syncd_of(config)

    def _syncd_of(self, config: KeepalivedConfig) -> None:
        """The sync daemon this process runs: only one that follows an instance (the checker process runs the
        other kind).  Checked already (``load_checked``, :meth:`load`): a SettingsError here is a bug."""
        from pykeepalived.daemon.syncd import build_syncd

        syncd = build_syncd(config)
        self.syncd = syncd if syncd is not None and syncd.instance is not None else None

    # ------------------------------------------------------------------ reload

    def load(self) -> DaemonSettings:
        """Re-read the configuration (the reload hook; runs in a worker thread).  ReloadError names file:line."""
        result = load_config(self.path, config_id=self.config_id)
        errors = [str(d) for d in result.diagnostics if d.severity >= Severity.ERROR]
        for d in result.diagnostics:
            if d.severity == Severity.WARNING:
                log.warning("%s", d)
        if any(d.severity >= Severity.FATAL for d in result.diagnostics):
            raise ReloadError("\n".join(errors))
        try:
            settings = build_settings(result.config)
            from pykeepalived.daemon.syncd import build_syncd

            build_syncd(result.config)
        except SettingsError as exc:
            raise ReloadError("\n".join([*errors, str(exc)])) from None
        for text in errors:  # errors the settings could live with (keepalived skips what they name)
            log.warning("%s", text)
        if not settings.instances:
            raise ReloadError(f"{self.path}: no vrrp_instance configured")
        self.config = result.config
        return settings

    # ------------------------------------------------------------------ dumps and metrics

    def snapshot(self, daemon: VrrpDaemon) -> DaemonSnapshot:
        from pykeepalived.daemon.snapshot import DaemonSnapshot, GlobalSnapshot, SyncGroupSnapshot
        from pykeepalived.daemon.snapshot_of import instance_snapshot

        g = GlobalSnapshot.from_defs(self.config.global_defs)
        groups = {n: grp.name for grp in daemon.settings.sync_groups for n in grp.members}
        states = daemon.host.group_states() if daemon.host is not None else {}
        alerts = {grp.name: bool(grp.smtp_alert) for grp in self.config.sync_groups}
        return DaemonSnapshot(
            taken_at=time.time(),
            globals=g,
            instances=tuple(
                instance_snapshot(i.settings, i.router, source=i.src, transitions=i.transitions,
                                  release_master=self.released[i.name], sync_group=groups.get(i.name), g=g)
                for i in daemon.instances
            ),
            sync_groups=tuple(
                SyncGroupSnapshot(grp.name, states.get(grp.name, State.INIT), grp.members, alerts.get(grp.name, False))
                for grp in daemon.settings.sync_groups
            ),
        )

    def dump(self, kind: str, daemon: VrrpDaemon) -> None:
        from pykeepalived.daemon.dumps import signal_log_line, write_dump

        name = _FILES[kind]
        log.info("%s", signal_log_line(name, os.getpid(), clearing=kind == "stats_clear"))
        write_dump(daemon.dump_dir, name, self.snapshot(daemon))
        if kind == "stats_clear":
            self.released.clear()

    # ------------------------------------------------------------------ alerts

    def _configure_mail(self) -> None:
        g = self.config.global_defs
        if not g.smtp_server and self.alerter is None:
            return
        from pykeepalived.daemon.smtp_alert import SmtpAlerter, SmtpSettings, TransitionMailer

        smtp = SmtpSettings.from_defs(g)
        if smtp is None:
            self.alerter = self.mailer = None
            return
        if self.alerter is not None:
            self.alerter.settings = smtp
            return
        self.alerter = SmtpAlerter(smtp)
        self.mailer = TransitionMailer(self.alerter)

    def _own_alert(self, name: str) -> bool | None:
        for inst in self.config.vrrp_instances:
            if inst.name == name:
                own: bool | None = inst.smtp_alert
                return own
        return None

    # ------------------------------------------------------------------ lvs_sync_daemon

    def _syncd_converge(self, state: State | None) -> None:
        """Ask the keeper for the daemon ``state`` of the followed instance calls for (None: stopped)."""
        from pykeepalived.daemon.syncd import SyncdKeeper, desired_daemons

        if self.syncd_keeper is None:
            if self.syncd is None:
                return
            self.syncd_keeper = SyncdKeeper(self.syncd_backend)
        master = None if state is None else state is State.MASTER
        self.syncd_keeper.want(desired_daemons(self.syncd, master=master))

    def _followed_state(self) -> State:
        """The followed instance's state now; INIT (starting) counts as BACKUP: keepalived starts the backup
        daemon when the instance starts (vrrp_init_state), whatever the instance does next."""
        if self.syncd is not None and self._daemon is not None:
            for inst in self._daemon.instances:
                if inst.name == self.syncd.instance and inst.router.state is not State.INIT:
                    return inst.router.state
        return State.BACKUP

    def state_changed(self, name: str, old: State, new: State) -> None:
        if self.syncd is not None and name == self.syncd.instance:
            # INIT after a running state is the stop (keepalived stops the daemon of the state it was in)
            self._syncd_converge(None if new is State.INIT and old is not State.INIT else new)
        if old is State.MASTER:
            self.released[name] += 1
        if self.mailer is not None:
            self.mailer.instance(name, new, smtp_alert=self._own_alert(name))

    def group_changed(self, name: str, state: State) -> None:
        if self.mailer is not None:
            own = next((g.smtp_alert for g in self.config.sync_groups if g.name == name), None)
            self.mailer.group(name, state, smtp_alert=own)

    # ------------------------------------------------------------------ life cycle

    async def started(self, daemon: VrrpDaemon) -> None:
        self._daemon = daemon
        if self.alerter is not None:
            self.alerter.start()
        if self.metrics_listen:
            from pykeepalived.daemon.metrics import MetricsListenError, on_loop, parse_listen, serve

            try:
                host, port = parse_listen(self.metrics_listen)
            except MetricsListenError as exc:
                log.error("%s", exc)
                return
            try:
                self.metrics = serve(on_loop(daemon.loop, lambda: self.snapshot(daemon)), host, port)
            except OSError as exc:
                log.error("metrics endpoint %s: %s", self.metrics_listen, exc)
            else:
                log.info("metrics endpoint on http://%s:%d/metrics", host, self.metrics.port)

    def ready(self) -> None:
        """Started, or a reload done (applied or refused): mail settings and the sync daemon follow the config."""
        self._configure_mail()
        if self._daemon is not None:
            self._syncd_of(self.config)
            if self.syncd is not None:
                self._syncd_converge(self._followed_state())
            elif self.syncd_keeper is not None:
                self.syncd_keeper.want(())  # removed (or handed to the checker process) by the reload
        if self.alerter is not None:
            self.alerter.start()

    async def closing(self) -> None:
        if self.syncd_keeper is not None:
            self.syncd_keeper.want(())  # keepalived's vrrp_terminate_phase1: stop the daemon we ran
            await self.syncd_keeper.close(timeout=1.5)
            self.syncd_keeper = None
        if self.metrics is not None:
            self.metrics.close()
            self.metrics = None
        if self.alerter is not None:
            await self.alerter.aclose(grace=1.5)

    def hooks(self) -> DaemonHooks:
        return DaemonHooks(
            reload=self.load,
            dump=self.dump,
            state_changed=[self.state_changed],
            group_changed=[self.group_changed],
            ready=[self.ready],
            started=[self.started],
            closing=[self.closing],
        )


def _kernel_backend() -> Backend:
    from ipvs.netlink import KernelBackend

    return KernelBackend()


def dump_dir_default() -> Path:
    """Where dumps go when no flag says: ``$PYKEEPALIVED_TMP_DIR``, else keepalived's ``$TMPDIR`` rule."""
    from pykeepalived.daemon.dumps import tmp_dir

    own = os.environ.get("PYKEEPALIVED_TMP_DIR")
    return Path(own) if own else tmp_dir()
