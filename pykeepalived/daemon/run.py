"""The daemon's parent process up to the hand-off to the lean watchdog: check the configuration
(:func:`load_checked`), apply the process options (``-s``, ``-u``, ``-m``), daemonise, write the pid files and
start the children (:func:`run_daemon`).  The package's ``__init__`` re-exports these names lazily, so the lean
watchdog interpreter, which imports modules of this package, never pays for what this module imports."""

from __future__ import annotations

import logging
import os
import resource
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pykeepalived.daemon.logs import setup_logging
from pykeepalived.daemon.options import DEFAULT_CHECKERS_PID, DEFAULT_PID, DEFAULT_VRRP_PID, DaemonOptions

if TYPE_CHECKING:
    from pykeepalived.config import ConfigResult
    from pykeepalived.daemon.lvs import LvsSettings
    from pykeepalived.daemon.settings import DaemonSettings

__all__ = ["Checked", "DaemonOptions", "apply_process_options", "dump_dir", "load_checked", "run_daemon",
           "setup_logging"]

log = logging.getLogger("pykeepalived.parent")


@dataclass(frozen=True)
class Checked:
    """A configuration that can run: the VRRP settings and the LVS settings of the parts this process runs."""

    result: ConfigResult
    vrrp: DaemonSettings | None
    lvs: LvsSettings | None


def load_checked(options: DaemonOptions, *, vrrp: bool, check: bool) -> Checked | int:
    """Read the configuration and build the settings of the parts asked for; an exit status when it cannot run
    (each problem already logged with its file and line)."""
    from pykeepalived.config import load_config
    from pykeepalived.config.errors import Severity
    from pykeepalived.daemon.settings import SettingsError, build_settings
    from pykeepalived.daemon.syncd import build_syncd

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
        settings = build_settings(result.config) if vrrp else None
        build_syncd(result.config)  # lvs_sync_daemon: whichever process runs it, a bad one stops the start
    except SettingsError as exc:
        log.error("%s", exc)
        return 4
    lvs = None
    if check and result.config.virtual_servers:  # only then the checkers, IPVS and dnspython are imported
        from pykeepalived.daemon.lvs import LvsSettingsError, build_lvs

        try:
            lvs = build_lvs(result.config)
        except LvsSettingsError as exc:
            log.error("%s", exc)
            return 4
    return Checked(result, settings, lvs)


def _daemonize() -> None:
    """The classic double fork (before any event loop or child exists): the caller returns in the grandchild."""
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


def apply_process_options(options: DaemonOptions) -> str | None:
    """``-s``, ``-u``, ``-m``: what must hold before anything opens a socket or a file; an error message or None."""
    from pykeepalived.daemon.linux import NamespaceError, enter_netns

    if options.namespace is not None:
        try:
            enter_netns(options.namespace)
        except NamespaceError as exc:
            return str(exc)
    if options.umask is not None:
        os.umask(options.umask)
    if options.core_dump:
        _, hard = resource.getrlimit(resource.RLIMIT_CORE)
        resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
    return None


def run_daemon(options: DaemonOptions) -> int:
    """The parent process: check the configuration, start the children, watch them; returns the exit status."""
    from pykeepalived.daemon.pidfile import PidFile, PidFileError
    from pykeepalived.daemon.watchdog import KEEPALIVED_VERSION, Child, become_watchdog

    setup_logging(options)
    problem = apply_process_options(options)
    if problem is not None:
        log.error("%s", problem)
        return 1
    log.info("Starting %s (pykeepalived)", KEEPALIVED_VERSION)
    log.info("Command line: %s", shlex.join([sys.argv[0], *sys.argv[1:]]))
    log.info("Configuration file %s", options.config_file)
    want_vrrp = options.vrrp or not options.check
    want_check = options.check or not options.vrrp
    checked = load_checked(options, vrrp=want_vrrp, check=want_check)
    if isinstance(checked, int):
        return checked
    if options.dump_conf:
        from pykeepalived.config.dump import dump_json

        for line in dump_json(checked.result.config).splitlines():
            log.info("%s", line)
    cfg = checked.result.config
    run_vrrp = want_vrrp and (options.all_children or bool(checked.vrrp and checked.vrrp.instances))
    run_check = want_check and (options.all_children or bool(cfg.virtual_servers))
    children = []
    if run_check:
        children.append(Child("checker", "Healthcheck", options.checkers_pid_file or DEFAULT_CHECKERS_PID))
    if run_vrrp:
        children.append(Child("vrrp", "VRRP", options.vrrp_pid_file or DEFAULT_VRRP_PID))
    if not children:
        what = "vrrp_instance" if options.vrrp else "virtual_server" if options.check else \
            "vrrp_instance or virtual_server"
        log.error("%s: no %s configured; nothing to do", options.config_file, what)
        return 4
    if not options.dont_fork:
        _daemonize()
    pidfiles: list[PidFile] = []
    try:
        pidfiles.append(PidFile.create(options.pid_file or DEFAULT_PID))
        for child in children:  # refuse now, before any child starts, if a live daemon holds a child's file
            PidFile.check(child.pid_path)
    except PidFileError as exc:
        log.error("%s", exc)
        for pf in pidfiles:
            pf.remove()
        return 1
    become_watchdog(options, children, [str(pf.path) for pf in pidfiles])  # never returns


def dump_dir(options: DaemonOptions) -> Path:
    """Where the SIGUSR1/SIGUSR2/JSON dumps go: ``--dump-dir``, ``$PYKEEPALIVED_TMP_DIR`` or keepalived's /tmp."""
    return Path(options.dump_dir or os.environ.get("PYKEEPALIVED_TMP_DIR") or "/tmp")
