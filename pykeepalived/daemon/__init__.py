"""The pykeepalived daemon: today the VRRP process (``-P``), run in the foreground or daemonised.

Entry point: :func:`run_vrrp` takes the typed, frozen :class:`~.options.DaemonOptions` that ``pykeepalived.cli``
(the one command-line parser) built from keepalived's flags, and returns the exit status.  This package never
imports the CLI.

Flags honoured: ``-f`` config, ``-i`` config id, ``-n`` stay in the foreground, ``-l`` log to the console,
``-D`` detailed (debug) log, ``-g FILE`` log file, ``-p``/``-r``/``-c`` PID files (the VRRP process writes its
pid to the ``-p`` and ``-r`` files; ``-c`` is accepted as keepalived does, there is no checker process yet).
Dumps (SIGUSR1/SIGUSR2/SIGRTMIN+2) go to ``--dump-dir`` or ``$PYKEEPALIVED_TMP_DIR`` or ``/tmp``, as
keepalived's go to ``/tmp``.
"""

from __future__ import annotations

import asyncio
import logging
import logging.handlers
import os
import signal
import sys
from pathlib import Path

from pykeepalived.daemon.options import DEFAULT_PID, DEFAULT_VRRP_PID, DaemonOptions

__all__ = ["DaemonOptions", "run_vrrp"]

log = logging.getLogger("pykeepalived.vrrp")


def setup_logging(*, console: bool, detail: bool, log_file: str | None) -> None:
    """keepalived's logging choices: ``-l`` console, ``-g`` file, otherwise syslog; ``-D`` adds detail."""
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.setLevel(logging.DEBUG if detail else logging.INFO)
    stamp = logging.Formatter("%(asctime)s.%(msecs)03d: %(message)s", "%a %b %d %H:%M:%S")
    handlers: list[logging.Handler] = []
    if console:
        handlers.append(logging.StreamHandler(sys.stderr))
    if log_file:
        p = Path(log_file)
        handlers.append(logging.FileHandler(p.with_name(f"{p.stem}_vrrp{p.suffix}")))
    for h in handlers:
        h.setFormatter(stamp)
    if not handlers:
        try:
            sh: logging.Handler = logging.handlers.SysLogHandler("/dev/log", facility="daemon")
            sh.setFormatter(logging.Formatter(f"Keepalived_vrrp[{os.getpid()}]: %(message)s"))
        except OSError:
            sh = logging.StreamHandler(sys.stderr)
            sh.setFormatter(stamp)
        handlers.append(sh)
    for h in handlers:
        root.addHandler(h)
    logging.getLogger("pyroute2").setLevel(logging.WARNING)
    logging.getLogger("asyncio").setLevel(logging.WARNING)


def _daemonize() -> None:
    """The classic double fork: the caller returns in the grandchild, detached from the terminal."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    fd = os.open(os.devnull, os.O_RDWR)
    for n in (0, 1, 2):
        os.dup2(fd, n)
    if fd > 2:
        os.close(fd)


def run_vrrp(options: DaemonOptions) -> int:
    """Run the VRRP process with keepalived's command-line options; returns the exit status."""
    from pykeepalived.config import load_config
    from pykeepalived.config.errors import Severity
    from pykeepalived.daemon.pidfile import PidFile, PidFileError
    from pykeepalived.daemon.settings import SettingsError, build_settings
    from vrrp.io.driver import VrrpDaemon
    from vrrp.io.realtime import ProcessSettings, apply_process_settings, current_policy

    setup_logging(console=options.log_console, detail=options.log_detail, log_file=options.log_file)
    if options.check and not options.vrrp:
        log.error("-C (checker process only): the checker process is not implemented yet; use -P")
        return 1
    path = options.config_file
    if not os.path.exists(path):
        log.error("Configuration file '%s' does not exist", path)
        return 1
    result = load_config(path, config_id=options.config_id)
    for d in result.diagnostics:
        if d.severity >= Severity.WARNING:
            log.warning("%s", d)
    if any(d.severity >= Severity.FATAL for d in result.diagnostics):
        log.error("%s: the configuration cannot run; stopping", path)
        return 4
    try:
        settings = build_settings(result.config)
    except SettingsError as exc:
        log.error("%s", exc)
        return 4
    if not settings.instances:
        log.error("%s: no vrrp_instance configured; nothing to do", path)
        return 4
    if result.config.virtual_servers and not options.vrrp:
        log.warning("virtual_server blocks found: the checker process is not implemented yet (VRRP only)")
    for sig in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGRTMIN + 2, signal.SIGRTMAX - 1,
                signal.SIGRTMAX):
        signal.signal(sig, signal.SIG_IGN)  # until the loop's handlers are installed: a dump request is no kill
    if not options.dont_fork:
        _daemonize()
    pidfiles: list[PidFile] = []
    try:
        for p in (options.pid_file or DEFAULT_PID, options.vrrp_pid_file or DEFAULT_VRRP_PID):
            pidfiles.append(PidFile.create(p))
    except PidFileError as exc:
        log.error("%s", exc)
        for pf in pidfiles:
            pf.remove()
        return 1
    dump_dir = Path(options.dump_dir or os.environ.get("PYKEEPALIVED_TMP_DIR") or "/tmp")
    log.info("Starting pykeepalived VRRP process (pid %d), config %s", os.getpid(), path)
    for problem in apply_process_settings(settings.process):
        log.warning("cannot apply %s", problem)
    if settings.process != ProcessSettings():
        log.info("process scheduling: %s priority %d, nice %d", *current_policy())

    def remove_pidfiles() -> None:
        for pf in pidfiles:
            pf.remove()

    try:
        from pykeepalived.daemon.vrrp_main import VrrpProcess

        process = VrrpProcess(path, result.config, config_id=options.config_id,
                              metrics_listen=os.environ.get("PYKEEPALIVED_METRICS_LISTEN"))
        daemon = VrrpDaemon(settings, dump_dir=dump_dir, on_hard_exit=remove_pidfiles, hooks=process.hooks())
        return asyncio.run(daemon.run())
    except KeyboardInterrupt:
        return 0
    finally:
        remove_pidfiles()
