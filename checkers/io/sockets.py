"""Probe sockets with keepalived's common connection options: ``bindto``/``bind_port`` (bind), ``bind_if``
(SO_BINDTODEVICE, needed for IPv6 link-local targets), ``fwmark`` (SO_MARK). Non-blocking, close-on-exec."""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket

from checkers.core.spec import Target

SO_MARK = getattr(socket, "SO_MARK", 36)
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)


@functools.lru_cache(maxsize=65536)
def family_of(addr: str) -> socket.AddressFamily:
    """The address family of an IP literal (cached: parsing an address costs more than a loopback connect's
    user-space share, and a checker asks for the same few thousand addresses every delay_loop)."""
    return socket.AF_INET6 if ipaddress.ip_address(addr).version == 6 else socket.AF_INET


def sockaddr(target: Target, port: int | None = None) -> tuple[str, int] | tuple[str, int, int, int]:
    """The destination as the socket API wants it (IPv6 with a scope id when bind_if names the link)."""
    p = target.port if port is None else port
    if family_of(target.ip) == socket.AF_INET6:
        scope = socket.if_nametoindex(target.bind_if) if target.bind_if else 0
        return (target.ip, p, 0, scope)
    return (target.ip, p)


#: as a plain int: or-ing the enum flags costs more than creating the socket
_NONBLOCK = int(socket.SOCK_NONBLOCK)

SockOpt = tuple[int, int, int] | tuple[int, int, bytes]


def socket_options(target: Target) -> list[SockOpt]:
    """The setsockopt calls for ``fwmark`` and ``bind_if`` (also handed to httpx as ``socket_options``)."""
    opts: list[SockOpt] = []
    if target.fwmark is not None:
        opts.append((socket.SOL_SOCKET, SO_MARK, target.fwmark))
    if target.bind_if:
        opts.append((socket.SOL_SOCKET, SO_BINDTODEVICE, target.bind_if.encode()))
    return opts


def open_socket(target: Target, kind: socket.SocketKind, proto: int = 0) -> socket.socket:
    """A non-blocking socket toward ``target`` with the options applied and the source bound."""
    fam = family_of(target.ip)
    sock = socket.socket(fam, int(kind) | _NONBLOCK, proto)  # non-blocking from the start: no fcntl calls
    try:
        if target.fwmark is not None or target.bind_if:
            for level, opt, value in socket_options(target):
                sock.setsockopt(level, opt, value)
        if target.bindto or target.bind_port:
            src = target.bindto or ("::" if fam == socket.AF_INET6 else "0.0.0.0")
            sock.bind((src, target.bind_port or 0))
    except BaseException:
        sock.close()
        raise
    return sock


async def connect_tcp(target: Target, port: int | None = None) -> socket.socket:
    """A connected TCP socket (the caller's timeout bounds the connect)."""
    sock = open_socket(target, socket.SOCK_STREAM)
    try:
        await asyncio.get_running_loop().sock_connect(sock, sockaddr(target, port))
    except BaseException:
        sock.close()
        raise
    return sock


async def connect_udp(target: Target) -> socket.socket:
    """A connected UDP socket: the kernel then reports ICMP port unreachable as ECONNREFUSED on recv."""
    sock = open_socket(target, socket.SOCK_DGRAM)
    try:
        await asyncio.get_running_loop().sock_connect(sock, sockaddr(target))
    except BaseException:
        sock.close()
        raise
    return sock
