"""What the VRRP process adds around ``vrrp.io.driver.VrrpDaemon``: reload, keepalived's dumps, e-mail alerts and
the opt-in metrics endpoint (systemd is told by the watchdog parent, which owns NOTIFY_SOCKET), handed to the
driver as ``DaemonHooks`` (``vrrp`` never imports
``pykeepalived``, so the configuration model, the dump formats and the mailers are composed here).
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
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
    from pykeepalived.daemon.metrics import MetricsServer
    from pykeepalived.daemon.smtp_alert import SmtpAlerter, TransitionMailer
    from pykeepalived.daemon.snapshot import DaemonSnapshot

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

    def state_changed(self, name: str, old: State, new: State) -> None:
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
        self._configure_mail()
        if self.alerter is not None:
            self.alerter.start()

    async def closing(self) -> None:
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


def dump_dir_default() -> Path:
    """Where dumps go when no flag says: ``$PYKEEPALIVED_TMP_DIR``, else keepalived's ``$TMPDIR`` rule."""
    from pykeepalived.daemon.dumps import tmp_dir

    own = os.environ.get("PYKEEPALIVED_TMP_DIR")
    return Path(own) if own else tmp_dir()
