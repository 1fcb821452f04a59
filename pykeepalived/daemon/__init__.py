"""The pykeepalived daemon: today the VRRP process (``-P``), run in the foreground or daemonised.

Entry points:

* :func:`run_vrrp` takes the ``argparse.Namespace`` of ``pykeepalived.cli`` (keepalived's flags) and returns
  the exit status;
* ``python -m pykeepalived.daemon -P -n -l -f FILE ...`` parses the same flags (plus ``--dump-dir``) and
  calls it, so tests and the lab can run the daemon before the CLI hook exists.

Flags honoured: ``-f`` config, ``-i`` config id, ``-n`` stay in the foreground, ``-l`` log to the console,
``-D`` detailed (debug) log, ``-g FILE`` log file, ``-p``/``-r``/``-c`` PID files (the VRRP process writes its
pid to the ``-p`` and ``-r`` files; ``-c`` is accepted as keepalived does, there is no checker process yet).
Dumps (SIGUSR1/SIGUSR2/SIGRTMIN+2) go to ``--dump-dir`` or ``$PYKEEPALIVED_TMP_DIR`` or ``/tmp``, as
keepalived's go to ``/tmp``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import logging.handlers
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main", "run_vrrp"]

DEFAULT_PID = "/run/keepalived.pid"
DEFAULT_VRRP_PID = "/run/keepalived_vrrp.pid"

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


def run_vrrp(args: argparse.Namespace) -> int:
    """Run the VRRP process with keepalived's command-line options; returns the exit status."""
    from pykeepalived.config import load_config
    from pykeepalived.config.errors import Severity
    from pykeepalived.daemon.pidfile import PidFile, PidFileError
    from pykeepalived.daemon.realtime import ProcessSettings, apply_process_settings, current_policy
    from pykeepalived.daemon.settings import SettingsError, build_settings
    from pykeepalived.daemon.vrrp_process import VrrpDaemon

    console = bool(getattr(args, "log_console", False))
    setup_logging(console=console, detail=bool(getattr(args, "log_detail", False)),
                  log_file=getattr(args, "log_file", None))
    if getattr(args, "check", False) and not getattr(args, "vrrp", False):
        log.error("-C (checker process only): the checker process is not implemented yet; use -P")
        return 1
    path = args.file
    if not os.path.exists(path):
        log.error("Configuration file '%s' does not exist", path)
        return 1
    result = load_config(path, config_id=getattr(args, "config_id", None))
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
    if result.config.virtual_servers and not getattr(args, "vrrp", False):
        log.warning("virtual_server blocks found: the checker process is not implemented yet (VRRP only)")
    if not getattr(args, "dont_fork", False):
        _daemonize()
    pidfiles: list[PidFile] = []
    try:
        for p in (getattr(args, "pid", None) or DEFAULT_PID, getattr(args, "vrrp_pid", None) or DEFAULT_VRRP_PID):
            pidfiles.append(PidFile.create(p))
    except PidFileError as exc:
        log.error("%s", exc)
        for pf in pidfiles:
            pf.remove()
        return 1
    dump_dir = Path(getattr(args, "dump_dir", None) or os.environ.get("PYKEEPALIVED_TMP_DIR") or "/tmp")
    log.info("Starting pykeepalived VRRP process (pid %d), config %s", os.getpid(), path)
    for problem in apply_process_settings(settings.process):
        log.warning("cannot apply %s", problem)
    if settings.process != ProcessSettings():
        log.info("process scheduling: %s priority %d, nice %d", *current_policy())

    def remove_pidfiles() -> None:
        for pf in pidfiles:
            pf.remove()

    try:
        return asyncio.run(VrrpDaemon(settings, dump_dir=dump_dir, on_hard_exit=remove_pidfiles).run())
    except KeyboardInterrupt:
        return 0
    finally:
        remove_pidfiles()


def build_parser() -> argparse.ArgumentParser:
    """pykeepalived's keepalived-compatible parser plus ``--dump-dir``."""
    from pykeepalived.cli import build_parser as cli_parser

    p = cli_parser()
    p.add_argument("--dump-dir", dest="dump_dir", default=None, metavar="DIR",
                   help="where SIGUSR1/SIGUSR2/SIGRTMIN+2 dumps go (default $PYKEEPALIVED_TMP_DIR or /tmp)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pykeepalived.daemon``: the VRRP process with keepalived's flags."""
    for sig in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGRTMIN + 2):
        signal.signal(sig, signal.SIG_IGN)  # until the loop's handlers are installed: a dump request is no kill
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else 1
    return run_vrrp(args)
