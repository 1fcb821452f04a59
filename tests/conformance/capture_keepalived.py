"""Re-capture the keepalived golden vectors of codec_vectors.py (needs root and Debian's keepalived).

Not a test (pytest does not collect it): it documents and reproduces where the vectors come from.  It starts
one real keepalived (``-P``: VRRP only) in a private namespace with four instances — v2 PASS, v3 IPv4, v3
IPv4 with three VIPs, v3 IPv6 — on one end of a veth pair, and reads the first advertisement of each VRID
with an AF_PACKET socket in a second namespace on the other end.  Prints one JSON object per VRID (message
hex, IP source, TTL).  Everything it creates is named ``codec-kv-<pid>...`` and removed in ``finally``.

    sudo .venv/bin/python tests/conformance/capture_keepalived.py
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIG = """
global_defs {{
    router_id codec_capture
}}
vrrp_instance V2PASS {{
    version 2
    interface {ifname}
    state BACKUP
    virtual_router_id 51
    priority 150
    advert_int 1
    authentication {{
        auth_type PASS
        auth_pass secret12
    }}
    virtual_ipaddress {{
        192.0.2.100/32
        192.0.2.101/32
    }}
}}
vrrp_instance V3V4 {{
    version 3
    interface {ifname}
    state BACKUP
    virtual_router_id 52
    priority 120
    advert_int 0.5
    virtual_ipaddress {{
        192.0.2.102/32
    }}
}}
vrrp_instance V3V4THREE {{
    version 3
    interface {ifname}
    state BACKUP
    virtual_router_id 53
    priority 254
    advert_int 0.25
    virtual_ipaddress {{
        192.0.2.103/32
        192.0.2.104/32
        192.0.2.105/32
    }}
}}
vrrp_instance V3V6 {{
    version 3
    interface {ifname}
    state BACKUP
    virtual_router_id 54
    priority 100
    advert_int 0.3
    native_ipv6
    virtual_ipaddress {{
        fe80::54/64
        2001:db8::54/64
    }}
}}
"""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True)


def _capture_in(ns: str, ifname: str, seconds: float) -> list[dict[str, object]]:
    """Run ``--capture`` of this file inside ``ns`` (AF_PACKET needs the interface's namespace)."""
    out = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, __file__, "--capture", ifname, str(seconds)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return list(json.loads(out.stdout))


def capture(ifname: str, seconds: float) -> list[dict[str, object]]:
    """The first non-zero-priority advertisement of each VRID seen on ``ifname`` within ``seconds``."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    sock.bind((ifname, 0))
    sock.settimeout(0.5)
    seen: dict[int, dict[str, object]] = {}
    end = time.monotonic() + seconds
    while time.monotonic() < end and len(seen) < 4:
        try:
            frame = sock.recv(2048)
        except TimeoutError:
            continue
        ethertype = int.from_bytes(frame[12:14], "big")
        if ethertype == 0x0800 and frame[23] == 112:
            ihl, total = (frame[14] & 15) * 4, int.from_bytes(frame[16:18], "big")
            msg, src, ttl = (
                frame[14 + ihl : 14 + total],
                socket.inet_ntop(socket.AF_INET, frame[26:30]),
                frame[22],
            )
        elif ethertype == 0x86DD and frame[20] == 112:
            plen = int.from_bytes(frame[18:20], "big")
            msg, src, ttl = frame[54 : 54 + plen], socket.inet_ntop(socket.AF_INET6, frame[22:38]), frame[21]
        else:
            continue
        if len(msg) > 2 and msg[2] != 0 and msg[1] not in seen:  # skip priority-0 (shutdown) adverts
            seen[msg[1]] = {"vrid": msg[1], "src": src, "ttl": ttl, "msg": msg.hex()}
    return [seen[vrid] for vrid in sorted(seen)]


def main(argv: list[str]) -> int:
    if argv[:1] == ["--capture"]:
        print(json.dumps(capture(argv[1], float(argv[2]))))
        return 0
    if os.geteuid() != 0:
        print("needs root (namespaces, AF_PACKET)", file=sys.stderr)
        return 2
    tag = f"codec-kv-{os.getpid()}"
    ns_kv, ns_cap, if_kv, if_cap = (
        tag,
        f"{tag}-cap",
        f"ckv{os.getpid() % 10000}a",
        f"ckv{os.getpid() % 10000}b",
    )
    keepalived: subprocess.Popen[bytes] | None = None
    with tempfile.TemporaryDirectory(prefix=tag) as tmp:
        try:
            _ip("netns", "add", ns_kv)
            _ip("netns", "add", ns_cap)
            _ip("link", "add", if_kv, "netns", ns_kv, "type", "veth", "peer", "name", if_cap, "netns", ns_cap)
            _ip("-n", ns_kv, "addr", "add", "192.0.2.1/24", "dev", if_kv)
            for ns, ifname in ((ns_kv, if_kv), (ns_kv, "lo"), (ns_cap, if_cap)):
                _ip("-n", ns, "link", "set", ifname, "up")
            time.sleep(2)  # IPv6 DAD of the link-local source
            conf = Path(tmp) / "keepalived.conf"
            conf.write_text(CONFIG.format(ifname=if_kv))
            keepalived = subprocess.Popen(
                ["ip", "netns", "exec", ns_kv, "keepalived", "-n", "-l", "-P", "-f", str(conf),
                 "-p", f"{tmp}/k.pid", "-r", f"{tmp}/v.pid"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            print(json.dumps(_capture_in(ns_cap, if_cap, 12), indent=1))
        finally:
            if keepalived is not None:
                keepalived.terminate()
                keepalived.wait(10)
            for ns in (ns_kv, ns_cap):
                subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
