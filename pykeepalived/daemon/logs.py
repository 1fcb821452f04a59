"""keepalived's logging choices, per process: ``-l`` console, syslog unless ``-G`` (facility ``-S``), ``-g FILE``
(with keepalived's per-process suffix), ``-D`` detail.

Why per process: keepalived's parent logs as ``Keepalived``, its children as ``Keepalived_vrrp`` and
``Keepalived_healthcheckers``, each with its own pid in the syslog tag; log greps and journal filters rely on
those tags.  The pid is taken when a line is written (``%(process)d``), so a daemonised process tags with the pid
it has after the fork.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path

from pykeepalived.daemon.options import DaemonOptions
from pykeepalived.daemon.parent_log import DATE_FORMAT, FACILITY_CODES, SYSLOG_SOCKET

__all__ = ["DATE_FORMAT", "FACILITIES", "SYSLOG_SOCKET", "facility_name", "setup_logging"]

#: keepalived's ``-S`` names (the watchdog's log holds their syslog codes); 0-7 stand for local0-7
FACILITIES = tuple(FACILITY_CODES)


def facility_name(text: str) -> str | None:
    """keepalived's ``-S`` argument as a facility name, or None when keepalived would call it invalid."""
    if text.isdigit() and len(text) == 1 and int(text) <= 7:
        return f"local{text}"
    return text if text in FACILITIES else None


def setup_logging(options: DaemonOptions, *, ident: str = "Keepalived", file_suffix: str = "") -> None:
    """Send this process's log where ``options`` say, tagged ``ident[pid]`` in syslog."""
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()
    root.setLevel(logging.DEBUG if options.log_detail else logging.INFO)
    stamp = logging.Formatter("%(asctime)s.%(msecs)03d: %(message)s", DATE_FORMAT)
    handlers: list[logging.Handler] = []
    if options.log_console:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(stamp)
        handlers.append(console)
    if options.log_file:
        p = Path(options.log_file)
        fh = logging.FileHandler(p.with_name(f"{p.stem}{file_suffix}{p.suffix}"))
        fh.setFormatter(stamp)
        handlers.append(fh)
    if not options.no_syslog and os.path.exists(SYSLOG_SOCKET):
        try:
            sh = logging.handlers.SysLogHandler(SYSLOG_SOCKET, facility=options.log_facility)
        except OSError:  # no syslog daemon (or no /dev/log): keepalived's syslog() drops the lines too
            pass
        else:
            sh.setFormatter(logging.Formatter(f"{ident}[%(process)d]: %(message)s"))
            handlers.append(sh)
    if not handlers:  # nowhere else to go: the console rather than silence
        fallback = logging.StreamHandler(sys.stderr)
        fallback.setFormatter(stamp)
        handlers.append(fallback)
    for h in handlers:
        root.addHandler(h)
    logging.getLogger("pyroute2").setLevel(logging.WARNING)
    logging.getLogger("asyncio").setLevel(logging.WARNING)
