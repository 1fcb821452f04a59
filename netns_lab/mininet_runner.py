"""Mininet side of the Mininet adapter: runs under ``/usr/bin/python3`` (Debian's ``mininet``), driven by
:class:`netns_lab.mininet.MininetRun` over stdin/stdout, one JSON object per line.

First line: ``{"prefix": ..., "topology": {...}, "daemons": {host: {"argv": [...], "env": {...}, "log": path}}}``.
The runner builds the topology with ``Mininet(topo, switch=LinuxBridge, controller=None)``, gives the hosts
their addresses, starts each daemon in its host and answers ``{"ok": true}``.  Then requests:

* ``{"op": "holders", "vip": V, "hosts": [...]}`` -> ``{"holders": [...]}``: the hosts with V on an interface;
* ``{"op": "kill", "host": H}`` / ``{"op": "term", "host": H}``: SIGKILL / SIGTERM H's daemon;
* ``{"op": "stop"}``: stop the daemons and the network, answer, exit.

Whatever happens (an error, the driver going away: EOF on stdin), the runner stops its daemons and the network
and then removes any link or bridge left whose name starts with its prefix: an ``mn -c`` of only what it made
(``mn -c`` itself would remove every Mininet run on the machine).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import traceback
from typing import Any

from mininet.log import setLogLevel
from mininet.net import Mininet
from mininet.nodelib import LinuxBridge
from mininet_topo import NetnsLabTopo, configure


def reply(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def cleanup(prefix: str) -> None:
    """Delete links (bridges, veth ports) of this run still in the root namespace."""
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=False).stdout
    for line in out.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name.startswith(prefix):
            subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)


def main() -> None:
    setLogLevel("error")
    spec = json.loads(sys.stdin.readline())
    prefix = spec["prefix"]
    net = None
    procs: dict[str, Any] = {}
    try:
        topo = NetnsLabTopo(prefix=prefix, data=spec["topology"])
        net = Mininet(topo=topo, switch=LinuxBridge, controller=None, build=False, autoSetMacs=False)
        net.build()
        net.start()
        configure(net, spec["topology"])
        for host, d in spec["daemons"].items():
            env = dict(os.environ)
            env.update(d.get("env", {}))
            with open(d["log"], "ab") as log:
                procs[host] = net.get(host).popen(d["argv"], stdout=log, stderr=subprocess.STDOUT, env=env)
        reply({"ok": True})
        for line in sys.stdin:
            req = json.loads(line)
            op = req.get("op")
            if op == "holders":
                held = []
                for h in req["hosts"]:
                    addrs = net.get(h).cmd("ip -o addr show")
                    if f" {req['vip']}/" in addrs:
                        held.append(h)
                reply({"holders": held})
            elif op in ("kill", "term"):
                p = procs[req["host"]]
                p.send_signal(signal.SIGKILL if op == "kill" else signal.SIGTERM)
                p.wait(10)
                reply({"ok": True})
            elif op == "stop":
                break
            else:
                reply({"error": f"unknown op {op!r}"})
    except Exception:
        reply({"error": traceback.format_exc()})
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if net is not None:
            net.stop()
        cleanup(prefix)
    reply({"ok": True, "stopped": True})


if __name__ == "__main__":
    main()
