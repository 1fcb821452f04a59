"""The two Linux calls the process model needs and Python 3.11's ``os`` lacks: ``prctl(PR_SET_PDEATHSIG)`` and
``setns(CLONE_NEWNET)``, through libc.

Why: keepalived's children ask the kernel for SIGTERM when their parent dies, so a SIGKILLed parent never leaves a
VRRP child holding the VIPs; and ``-s NAME`` enters the network namespace ``/run/netns/NAME`` before anything
opens a socket, as ``ip netns exec`` does.
"""

from __future__ import annotations

import ctypes
import os

_PR_SET_PDEATHSIG = 1
_CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"

_libc = ctypes.CDLL(None, use_errno=True)


class NamespaceError(OSError):
    """``-s NAME``: the namespace cannot be entered; the message names it and why."""


def set_parent_death_signal(signum: int) -> None:
    """Have the kernel send ``signum`` to this process when its parent thread exits."""
    if _libc.prctl(_PR_SET_PDEATHSIG, ctypes.c_ulong(signum), 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_PDEATHSIG): {os.strerror(err)}")


def enter_netns(name: str) -> None:
    """Move this process into the network namespace ``name`` (under /run/netns, or a path)."""
    path = name if "/" in name else f"{NETNS_DIR}/{name}"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise NamespaceError(exc.errno, f"network namespace {name}: cannot open {path}: {exc.strerror}") from None
    try:
        if _libc.setns(fd, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise NamespaceError(err, f"network namespace {name}: setns: {os.strerror(err)}")
    finally:
        os.close(fd)
