"""A child of the parent (:mod:`.watchdog`): ``python -m pykeepalived.daemon.child ROLE PARENT_PID PID_FILE OPTIONS``.

ROLE is ``vrrp`` (the VRRP process, :mod:`vrrp.io.driver`) or ``checker`` (the health checkers and IPVS,
:mod:`.checker_process`).  The parent passes its options as JSON; nobody else is meant to start this.

First things, in this order: keepalived's signals cannot kill us (the parent started us with them ignored; we
say so again), then the kernel is asked for SIGTERM when the parent dies (``PR_SET_PDEATHSIG``, as keepalived's
children do) and we stop at once if the parent is already gone.  SIGTERM is the clean stop: the VRRP child sends
its priority-0 adverts and removes its VIPs, the checker child removes its IPVS services (unless ``-I``).

Exit status: 0 after a stop; 3 (FATAL) or 4 (CONFIG) when restarting cannot help, and the parent then stops the
whole daemon, as keepalived's parent does ("exited with permanent error"); anything else is a crash and the
parent respawns the child.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pykeepalived.daemon.linux import set_parent_death_signal
from pykeepalived.daemon.logs import setup_logging
from pykeepalived.daemon.options import DaemonOptions
from pykeepalived.daemon.pidfile import PidFile
from pykeepalived.daemon.run import apply_process_options, dump_dir, load_checked
from pykeepalived.daemon.watchdog import EXIT_CONFIG, EXIT_FATAL
from pykeepalived.sigsafe import protect_entry
from vrrp.io import lean_pyroute2

if TYPE_CHECKING:
    from pykeepalived.config.model import KeepalivedConfig
    from pykeepalived.daemon.smtp_alert import CheckerMailer

log = logging.getLogger("pykeepalived.child")

ROLES = {"vrrp": ("Keepalived_vrrp", "_vrrp"), "checker": ("Keepalived_healthcheckers", "_healthcheckers")}


def _vrrp(options: DaemonOptions, pidfile: PidFile) -> int:
    from vrrp.io.driver import VrrpDaemon
    from vrrp.io.realtime import ProcessSettings, apply_process_settings, current_policy

    checked = load_checked(options, vrrp=True, check=False)
    if isinstance(checked, int):
        return EXIT_CONFIG
    assert checked.vrrp is not None
    settings = checked.vrrp
    log.info("Starting pykeepalived VRRP process (pid %d), config %s", os.getpid(), options.config_file)
    for problem in apply_process_settings(settings.process):
        log.warning("cannot apply %s", problem)
    if settings.process != ProcessSettings():
        log.info("process scheduling: %s priority %d, nice %d", *current_policy())
    from pykeepalived.daemon.vrrp_main import VrrpProcess

    # reload (SIGHUP, forwarded by the parent), keepalived's dump files, mail, sd_notify and metrics
    process = VrrpProcess(options.config_file, checked.result.config, config_id=options.config_id,
                          metrics_listen=options.metrics_listen)
    daemon = VrrpDaemon(settings, dump_dir=dump_dir(options), on_hard_exit=pidfile.remove, hooks=process.hooks())
    status = asyncio.run(daemon.run())
    return EXIT_FATAL if status else 0


async def _serve_checkers(options: DaemonOptions) -> int:
    from ipvs.netlink import KernelBackend
    from pykeepalived.daemon.checker_process import CheckerProcess
    from pykeepalived.daemon.checker_reload import checker_sync_daemons, read_in_worker

    checked = load_checked(options, vrrp=False, check=True)
    if isinstance(checked, int):
        return EXIT_CONFIG
    assert checked.lvs is not None or options.all_children
    if checked.lvs is None:  # --all without virtual servers: idle until stopped, as keepalived's child
        stop = asyncio.Event()
        _install_stop(stop.set)
        await stop.wait()
        return 0
    log.info("Initializing ipvs")
    try:
        backend = KernelBackend()
    except OSError as exc:
        log.error("IPVS: Can't initialize ipvs: %s", exc.strerror or exc)
        return EXIT_FATAL
    process = CheckerProcess(checked.lvs, backend, keep_on_exit=options.dont_release_ipvs,
                             sync_daemons=checker_sync_daemons(checked.result.config),
                             loader=lambda: read_in_worker(options), mail=_checker_mail(checked.result.config),
                             freeze_heap=True)
    _install_stop(process.stop, reload=process.request_reload)
    await process.run()
    return 0


def _checker_mail(config: KeepalivedConfig) -> CheckerMailer | None:
    """keepalived's checker e-mail alerts, when global_defs sets up mail (a server and a recipient)."""
    from pykeepalived.daemon.smtp_alert import CheckerMailer, SmtpAlerter, SmtpSettings

    smtp = SmtpSettings.from_defs(config.global_defs)
    if smtp is None:
        return None
    quiet = any(k == "no_checker_emails" for k, _ in config.global_defs.extra)
    return CheckerMailer(SmtpAlerter(smtp), no_checker_emails=quiet)


def _install_stop(stop: object, *, reload: Callable[[], None] | None = None) -> None:
    loop = asyncio.get_running_loop()
    assert callable(stop)
    loop.add_signal_handler(signal.SIGTERM, stop)
    loop.add_signal_handler(signal.SIGINT, stop)
    if reload is not None:
        loop.add_signal_handler(signal.SIGHUP, reload)
    else:  # --all without virtual servers: nothing to reload into (keepalived's idle child)
        loop.add_signal_handler(signal.SIGHUP, log.info, "Reload (SIGHUP): no virtual_server to reload")


def main(argv: list[str]) -> int:
    protect_entry()
    role, parent, pid_path, raw = argv
    set_parent_death_signal(signal.SIGTERM)
    if os.getppid() != int(parent):
        return 0  # the parent died before we could ask to be told: nothing was started, nothing to undo
    options = DaemonOptions(**json.loads(raw))
    ident, suffix = ROLES[role]
    lean_pyroute2.install()  # before anything imports pyroute2: only the parts we use (~7 MiB less a child)
    # the role's modules first: importing pyroute2 resets its loggers' levels, which setup_logging sets
    importlib.import_module("vrrp.io.driver" if role == "vrrp" else "pykeepalived.daemon.checker_process")
    setup_logging(options, ident=ident, file_suffix=suffix)
    pidfile = PidFile(Path(pid_path), os.getpid())
    try:
        problem = apply_process_options(dataclasses.replace(options, namespace=None))  # the netns is inherited
        if problem is not None:
            log.error("%s", problem)
            return EXIT_FATAL
        if role == "vrrp":
            return _vrrp(options, pidfile)
        return asyncio.run(_serve_checkers(options))
    except KeyboardInterrupt:  # SIGTERM/SIGINT before the event loop took them over
        return 0
    finally:
        protect_entry()  # the loop gave its signals back to their defaults: keep them harmless to the end
        pidfile.remove()  # the parent writes it; whoever outlives the other removes it


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
