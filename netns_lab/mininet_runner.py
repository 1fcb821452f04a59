"""Mininet side of the Mininet executor: runs under ``/usr/bin/python3`` (Debian's ``mininet``), driven by
:class:`netns_lab.mn_adapter.MininetLab` over stdin/stdout, one JSON object per line.

First line: ``{"prefix": P, "topology": {...}, "nft_tables": [...]}``.  The runner builds the topology with
``Mininet(topo, switch=LinuxBridge, controller=None)`` (hosts unconfigured: the lab configures them), sets its
bridges as the lab sets its own (multicast snooping off so VRRP multicast floods, bridge-netfilter off, no IPv6
on the bridge and its ports, which live in the root namespace) and answers
``{"pids": {host: pid of its shell}, "bridges": [name per switch], "ports": [name per link]}``.
Then ``{"op": "stop"}`` (or EOF: the driver went away) stops the network and ends the runner.

Whatever happens, the runner then removes what is left of its own run only: the links and bridges it named
(each name starts with the run's prefix) and the nft tables the driver listed (the nemesis's table of this run):
an ``mn -c`` of only this run (``mn -c`` itself would remove every Mininet run on the machine).
"""

from __future__ import annotations

import json
import subprocess
import sys
import traceback
from typing import Any

from mininet.log import setLogLevel
from mininet.net import Mininet
from mininet.nodelib import LinuxBridge
from mininet_topo import NetnsLabTopo, port_name, switch_name


def reply(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def run(argv: list[str]) -> None:
    subprocess.run(argv, capture_output=True, check=False)


def names(prefix: str, topology: Any) -> tuple[list[str], list[str]]:
    """The run's bridges (one per switch) and ports (one per link), in the topology's order."""
    index = {(s if isinstance(s, str) else s["name"]): i for i, s in enumerate(topology["switches"])}
    bridges = [switch_name(prefix, i) for i in range(len(index))]
    ports = [port_name(bridges[index[lk["switch"]]], j) for j, lk in enumerate(topology["links"])]
    return bridges, ports


def cleanup(prefix: str, topology: Any, tables: list[str]) -> None:
    """Delete this run's own links and bridges still in the root namespace, and its nft tables."""
    bridges, ports = names(prefix, topology)
    present = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=False).stdout
    have = {line.split(":")[1].strip().split("@")[0] for line in present.splitlines() if ":" in line}
    for name in ports + bridges:
        if name in have and name.startswith(prefix):
            run(["ip", "link", "del", name])
    listed = subprocess.run(["nft", "list", "tables", "bridge"], capture_output=True, text=True, check=False).stdout
    for table in tables:
        if f"table bridge {table}\n" in listed + "\n" and table.endswith(prefix):
            run(["nft", "delete", "table", "bridge", table])


def main() -> None:
    setLogLevel("error")
    spec = json.loads(sys.stdin.readline())
    prefix, topology, tables = spec["prefix"], spec["topology"], list(spec.get("nft_tables", []))
    net = None
    try:
        topo = NetnsLabTopo(prefix=prefix, data=topology, configure=False)
        net = Mininet(topo=topo, switch=LinuxBridge, controller=None, build=False, autoSetMacs=False)
        net.build()
        net.start()
        bridges, ports = names(prefix, topology)
        for br in bridges:
            run(["ip", "link", "set", br, "type", "bridge", "mcast_snooping", "0", "nf_call_iptables", "0",
                 "nf_call_ip6tables", "0", "nf_call_arptables", "0"])  # fmt: skip
        for name in bridges + ports:
            run(["sysctl", "-qw", f"net.ipv6.conf.{name}.disable_ipv6=1"])
        reply({"pids": {h.name: h.pid for h in net.hosts}, "bridges": bridges, "ports": ports})
        for line in sys.stdin:
            if json.loads(line).get("op") == "stop":
                break
    except Exception:
        reply({"error": traceback.format_exc()})
    finally:
        if net is not None:
            net.stop()
        cleanup(prefix, topology, tables)
    reply({"stopped": True})


if __name__ == "__main__":
    main()
