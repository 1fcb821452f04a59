"""The checker child's reload source: the configuration re-read into LVS settings, in a process of its own.

Why a process and not a thread: at keepalived's reload-scale example (2,277 virtual servers, 37,205 real
servers) reading and building the settings is ~1.5 s of pure Python.  In a worker thread it shares the GIL with
the event loop, and the loop lost: every system call of a probe (socket, connect, epoll, close) hands the GIL to
the worker, and the loop waits a switch interval to get it back, thousands of times per loop iteration.  Measured
on this machine with 37,205 TCP_CHECKs running: the loop stood still for 1.9 s of a 2.6 s reload (ten times that
in User-Mode Linux, where checks then timed out and healthy real servers left the table).  A worker process
reads the file on its own CPU time; the loop only pays for unpickling the result (~0.25 s at that size) and the
plan (``lvs.plan_reload``, ~0.2 s).

The worker is ``python -m pykeepalived.daemon.checker_reload``: the daemon's options arrive pickled on stdin, an
:class:`Outcome` leaves pickled on stdout (both ends are this package; nothing else writes to that pipe).  It
dies with the checker child (PR_SET_PDEATHSIG) and is killed when the child stops or the read outlasts
:data:`WORKER_TIMEOUT`.  Its warnings travel back and are logged by the child, so the log reads as before.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import signal
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pykeepalived.daemon.checker_process import ConfigReloadError, Reloaded
from pykeepalived.daemon.heap import built_off_collector

if TYPE_CHECKING:
    from ipvs.model import SyncDaemon
    from pykeepalived.config.model import KeepalivedConfig
    from pykeepalived.daemon.options import DaemonOptions

log = logging.getLogger("pykeepalived.checker")

#: how long the worker may take to read the configuration before the reload is given up (the old one stays)
WORKER_TIMEOUT = 600.0


@dataclass(frozen=True)
class Outcome:
    """What the worker sends back: the new settings, or the error naming file:line; and its warnings."""

    reloaded: Reloaded | None
    error: str | None
    warnings: tuple[str, ...] = ()


def checker_sync_daemons(config: KeepalivedConfig) -> tuple[SyncDaemon, ...]:
    """lvs_sync_daemon without a VRRP instance: the checker process runs master and backup (check_daemon.c)."""
    from pykeepalived.daemon.syncd import build_syncd, desired_daemons

    syncd = build_syncd(config)  # checked by load_checked (or the reload) already
    return desired_daemons(syncd, master=False) if syncd is not None and syncd.instance is None else ()


def read_reload(options: DaemonOptions) -> Reloaded:
    """Re-read the configuration: the new LVS settings, sync daemons and mail settings, or ConfigReloadError
    naming file:line. Warnings go to this process's log (the worker sends them back)."""
    from pykeepalived.config import load_config
    from pykeepalived.config.errors import Severity
    from pykeepalived.daemon.lvs import LvsSettingsError, build_lvs
    from pykeepalived.daemon.settings import SettingsError
    from pykeepalived.daemon.smtp_alert import SmtpSettings

    result = load_config(options.config_file, config_id=options.config_id)
    for d in result.diagnostics:
        if d.severity == Severity.WARNING:
            log.warning("%s", d)
    errors = [str(d) for d in result.diagnostics if d.severity >= Severity.ERROR]
    if any(d.severity >= Severity.FATAL for d in result.diagnostics):
        raise ConfigReloadError("\n".join(errors))
    try:
        new = Reloaded(build_lvs(result.config), checker_sync_daemons(result.config),
                       SmtpSettings.from_defs(result.config.global_defs))
    except (LvsSettingsError, SettingsError) as exc:
        raise ConfigReloadError("\n".join([*errors, str(exc)])) from None
    for text in errors:  # errors the settings could live with (keepalived skips or defaults what they name)
        log.warning("%s", text)
    return new


class _Collect(logging.Handler):
    """The worker's log: kept, to be logged by the checker child."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def worker_main() -> int:
    """The worker process: options on stdin, an :class:`Outcome` on stdout."""
    from pykeepalived.daemon.linux import set_parent_death_signal

    set_parent_death_signal(signal.SIGKILL)
    options = pickle.load(sys.stdin.buffer)
    collect = _Collect()
    logging.getLogger().addHandler(collect)
    reloaded, error = None, None
    try:
        reloaded = read_reload(options)
    except ConfigReloadError as exc:
        error = str(exc)
    outcome = Outcome(reloaded, error, tuple(collect.lines))
    sys.stdout.buffer.write(pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL))
    sys.stdout.buffer.flush()
    return 0


async def read_in_worker(options: DaemonOptions, *, freeze_heap: bool = True,
                         timeout: float = WORKER_TIMEOUT) -> Reloaded:
    """The checker child's loader: :func:`read_reload` in a worker process (see the module docstring).
    ConfigReloadError for a configuration that cannot run or a worker that failed; the running one stays."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", __name__, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(timeout):
            out, err = await proc.communicate(pickle.dumps(options, protocol=pickle.HIGHEST_PROTOCOL))
    except TimeoutError:
        raise ConfigReloadError(f"Reading {options.config_file} took longer than {timeout:g} s") from None
    finally:
        if proc.returncode is None:  # timed out, or the child stops meanwhile
            proc.kill()
            await asyncio.shield(proc.wait())
    if proc.returncode != 0 or not out:
        why = err.decode(errors="replace").strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        raise ConfigReloadError(f"Reading {options.config_file} failed: {why[0]}")
    # the unpickled settings are long-lived: built without the cyclic collector and frozen (``heap``)
    outcome: Outcome = built_off_collector(lambda: pickle.loads(out)) if freeze_heap else pickle.loads(out)
    for line in outcome.warnings:
        log.warning("%s", line)
    if outcome.error is not None:
        raise ConfigReloadError(outcome.error)
    assert outcome.reloaded is not None
    return outcome.reloaded


if __name__ == "__main__":  # run as a script: take the classes from the package, so the pickle names them there
    from pykeepalived.daemon.checker_reload import worker_main as _main

    sys.exit(_main())
