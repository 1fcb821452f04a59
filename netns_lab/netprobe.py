"""Tiny real-socket probes run *inside* lab hosts (``python -m netns_lab.netprobe CMD ...``): a TCP echo
server and client, and a multicast sender and receiver, to show that a lab's links, routes and groups carry
traffic.

tcp-server PORT               accept connections on [::]:PORT (v4 and v6), echo one line back prefixed "echo:"
tcp-client ADDR PORT MSG [T]  connect (timeout T s, default 5), send MSG, print the reply
mcast-recv GROUP IFNAME PORT  join GROUP on IFNAME, print "ready", then the first datagram and sender
mcast-send GROUP IFNAME PORT MSG  send MSG to GROUP out of IFNAME every 50 ms for up to 5 s
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import sys
import time


def tcp_server(port: int) -> None:
    srv = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("::", port))
    srv.listen(16)
    print("ready", flush=True)
    while True:
        conn, peer = srv.accept()
        with conn:
            data = conn.recv(1024)
            conn.sendall(b"echo:" + data)
            print(f"served {peer[0]}", flush=True)


def tcp_client(addr: str, port: int, msg: str, timeout: float = 5.0) -> None:
    with socket.create_connection((addr, port), timeout=timeout) as s:
        s.sendall(msg.encode())
        print(s.recv(1024).decode(), flush=True)


def _mcast_socket(
    group: str, ifname: str, port: int, *, receive: bool
) -> tuple[socket.socket, tuple[str, int]]:
    ip = ipaddress.ip_address(group)
    ifindex = socket.if_nametoindex(ifname)
    if ip.version == 4:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if receive:
            s.bind((group, port))
            mreq = struct.pack("4s4si", ip.packed, b"\0" * 4, ifindex)  # struct ip_mreqn
            s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
        else:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        return s, (group, port)
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if receive:
        s.bind(("::", port))
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, ip.packed + struct.pack("@I", ifindex))
    else:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
    return s, (f"{group}%{ifname}", port)


def mcast_recv(group: str, ifname: str, port: int) -> None:
    s, _ = _mcast_socket(group, ifname, port, receive=True)
    s.settimeout(10)
    print("ready", flush=True)
    data, peer = s.recvfrom(1024)
    print(f"got {data.decode()} from {peer[0]}", flush=True)


def mcast_send(group: str, ifname: str, port: int, msg: str) -> None:
    s, dst = _mcast_socket(group, ifname, port, receive=False)
    addr = socket.getaddrinfo(dst[0], dst[1], type=socket.SOCK_DGRAM)[0][4]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        s.sendto(msg.encode(), addr)
        time.sleep(0.05)


def main(argv: list[str]) -> None:
    cmd, *args = argv
    if cmd == "tcp-server":
        tcp_server(int(args[0]))
    elif cmd == "tcp-client":
        tcp_client(args[0], int(args[1]), args[2], float(args[3]) if len(args) > 3 else 5.0)
    elif cmd == "mcast-recv":
        mcast_recv(args[0], args[1], int(args[2]))
    elif cmd == "mcast-send":
        mcast_send(args[0], args[1], int(args[2]), args[3])
    else:
        raise SystemExit(f"netprobe: unknown command {cmd!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
