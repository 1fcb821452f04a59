"""Run code with the calling *thread* inside a named network namespace, and nowhere else.

A socket belongs to the namespace it was created in for its whole life, so the lab opens capture and netlink
sockets this way: :func:`call_in_netns` runs a function in a short-lived thread that enters the namespace
(``setns`` affects only the calling thread), so the caller's threads never change namespace; :func:`inside`
moves the calling thread there for a ``with`` block and always back (how tests open raw sockets or netlink
sockets in a lab host for the I/O modules under test).  Errors name the namespace; none is ever created.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

__all__ = ["NETNS_DIR", "NetnsError", "call_in_netns", "inside"]

NETNS_DIR = "/run/netns"
_CLONE_NEWNET = 0x40000000
T = TypeVar("T")


class NetnsError(OSError):
    """The namespace does not exist or cannot be entered; the message names it."""


def _setns(fd: int, what: str) -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise NetnsError(f"cannot enter network namespace {what}: {os.strerror(err)}")


def _enter(netns: str) -> None:
    path = os.path.join(NETNS_DIR, netns)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NetnsError(f"no network namespace {netns!r} ({path})") from None
    try:
        _setns(fd, repr(netns))
    finally:
        os.close(fd)


@contextlib.contextmanager
def inside(netns: str) -> Iterator[None]:
    """Run the block with this thread in network namespace ``netns``, always returning to where it was."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _enter(netns)
        try:
            yield
        finally:
            _setns(home, "of this thread (returning)")
    finally:
        os.close(home)


def call_in_netns(netns: str | None, fn: Callable[[], T]) -> T:
    """``fn()`` run in a fresh thread that first enters ``netns`` (None: the caller's namespace); its result
    or its exception comes back to the caller."""
    result: list[T] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            if netns is not None:
                _enter(netns)
            result.append(fn())
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=run, name=f"netns-lab-in-{netns or 'self'}")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]
