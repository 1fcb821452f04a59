"""Re-capture the keepalived golden vectors of the codec conformance tests (needs root and Debian's keepalived).

``python -m netns_lab.keepalived_vectors`` starts one real keepalived (``-P``: VRRP only) in a lab host with
four instances -- v2 PASS, v3 IPv4, v3 IPv4 with three VIPs, v3 IPv6 -- captures the first advertisement of
each VRID on the lab's bridge and prints one JSON object per VRID (message hex, IP source, TTL).  The lab is
torn down however it ends; nothing is left in /tmp.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from netns_lab.capture import AdvertSeen, Capture
from netns_lab.daemons import DaemonSpec, start_daemon
from netns_lab.lab import Lab
from netns_lab.topology import Host, Link, Switch, Topology
from netns_lab.waiting import wait_until

__all__ = ["CONFIG", "capture_vectors", "main"]

VRIDS = (51, 52, 53, 54)
CONFIG = """
global_defs {
    router_id codec_capture
}
vrrp_instance V2PASS {
    version 2
    interface eth0
    state BACKUP
    virtual_router_id 51
    priority 150
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass secret12
    }
    virtual_ipaddress {
        192.0.2.100/32
        192.0.2.101/32
    }
}
vrrp_instance V3V4 {
    version 3
    interface eth0
    state BACKUP
    virtual_router_id 52
    priority 120
    advert_int 0.5
    virtual_ipaddress {
        192.0.2.102/32
    }
}
vrrp_instance V3V4THREE {
    version 3
    interface eth0
    state BACKUP
    virtual_router_id 53
    priority 254
    advert_int 0.25
    virtual_ipaddress {
        192.0.2.103/32
        192.0.2.104/32
        192.0.2.105/32
    }
}
vrrp_instance V3V6 {
    version 3
    interface eth0
    state BACKUP
    virtual_router_id 54
    priority 100
    advert_int 0.3
    native_ipv6
    virtual_ipaddress {
        fe80::54/64
        2001:db8::54/64
    }
}
"""


def capture_vectors(timeout: float = 12.0) -> list[dict[str, object]]:
    """The first non-zero-priority advertisement of each VRID keepalived sends, as golden-vector records."""
    topology = Topology(name="vectors", hosts=[Host("kv")], switches=[Switch("lan")],
                        links=[Link("kv", "lan", "eth0", ["192.0.2.1/24"])])
    with tempfile.TemporaryDirectory(prefix="netns-lab-vectors-") as tmp, \
            Lab(topology, log_dir=Path(tmp)) as lab, Capture.on_switch(lab) as cap:
        daemon = start_daemon(lab, DaemonSpec("kv", CONFIG, impl="keepalived", log_detail=False))

        def firsts() -> dict[int, AdvertSeen] | None:
            seen: dict[int, AdvertSeen] = {}
            for a in cap.adverts():
                if a.priority > 0 and a.vrid not in seen:  # skip priority-0 (shutdown) adverts
                    seen[a.vrid] = a
            return seen if set(VRIDS) <= set(seen) else None

        found = wait_until(firsts, timeout, 0.1)
        daemon.stop()
        if not found:
            raise RuntimeError(f"keepalived sent no adverts for all of VRIDs {VRIDS}:\n{daemon.log_tail()}")
        return [{"vrid": v, "src": a.src, "ttl": a.ttl, "msg": a.payload.hex()} for v, a in sorted(found.items())]


def main(argv: list[str] | None = None) -> int:
    if os.geteuid() != 0:
        print("netns_lab.keepalived_vectors: needs root (namespaces, AF_PACKET)", file=sys.stderr)
        return 2
    print(json.dumps(capture_vectors(), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
