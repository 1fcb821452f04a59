"""Build and tear down a 10-host lab: netns_lab vs a shell script of ``ip`` commands doing the same work.

Same work on both sides: a switch namespace with a bridge (multicast snooping and bridge-netfilter off, IPv6
off), ten host namespaces with lo up, IPv6 DAD off (all/default and per interface), a veth each with one IPv4
and one IPv6 address (nodad), the bridge port enslaved and up; then removal of every namespace. The script
is what one would write by hand: one ``ip`` (or ``ip netns exec ... sysctl``) invocation per step,
run by one bash.
"""

from __future__ import annotations

import ipaddress
import shlex
import subprocess

from bench.registry import register
from netns_lab.lab import Lab
from netns_lab.topology import Host, Link, Switch, Topology, port_ifname

HOSTS = 10

TOPOLOGY = Topology(
    name="bench10",
    hosts=[Host(f"h{i}") for i in range(HOSTS)],
    switches=[Switch("lan")],
    links=[Link(f"h{i}", "lan", "eth0", [f"10.0.0.{i + 1}/24", f"fd00::{i + 1:x}/64"]) for i in range(HOSTS)],
)


def shell_scripts(topo: Topology, prefix: str) -> tuple[str, str]:
    """(build, teardown) bash scripts of ``ip`` commands that build ``topo`` like netns_lab does."""
    q = shlex.quote
    br = f"{prefix}br"
    up, down = ["set -e"], []
    for s in topo.switches:
        ns = f"{prefix}-{s.name}"
        up += [
            f"ip netns add {q(ns)}",
            f"ip netns exec {q(ns)} sysctl -qw net.ipv6.conf.all.disable_ipv6=1"
            " net.ipv6.conf.default.disable_ipv6=1",
            f"ip -n {q(ns)} link set lo up",
            f"ip -n {q(ns)} link add {br} type bridge mcast_snooping 0"
            " nf_call_iptables 0 nf_call_ip6tables 0 nf_call_arptables 0",
            f"ip -n {q(ns)} link set {br} up",
        ]
        down.append(f"ip netns del {q(ns)} || true")
    for h in topo.hosts:
        ns = f"{prefix}-{h.name}"
        up += [
            f"ip netns add {q(ns)}",
            f"ip netns exec {q(ns)} sysctl -qw net.ipv6.conf.all.accept_dad=0"
            " net.ipv6.conf.default.accept_dad=0",
            f"ip -n {q(ns)} link set lo up",
        ]
        down.append(f"ip netns del {q(ns)} || true")
    for i, lk in enumerate(topo.links):
        ns, sw = f"{prefix}-{lk.host}", f"{prefix}-{lk.switch}"
        port = port_ifname(lk.host, lk.ifname, i)
        up += [
            f"ip -n {q(ns)} link add {q(lk.ifname)} type veth peer name {q(port)} netns {q(sw)}",
            f"ip netns exec {q(ns)} sysctl -qw net.ipv6.conf.{lk.ifname}.accept_dad=0",
        ]
        for a in lk.addresses:
            nodad = " nodad" if ipaddress.ip_interface(a).version == 6 else ""
            up.append(f"ip -n {q(ns)} addr add {q(a)} dev {q(lk.ifname)}{nodad}")
        up += [
            f"ip -n {q(ns)} link set {q(lk.ifname)} up",
            f"ip -n {q(sw)} link set {q(port)} master {br} up",
        ]
    return "\n".join(up) + "\n", "\n".join(down) + "\n"


def ours() -> None:
    with Lab(TOPOLOGY):
        pass


def anchor() -> None:
    prefix = Lab._free_prefix()
    build, teardown = shell_scripts(TOPOLOGY, prefix)
    try:
        out = subprocess.run(["bash", "-c", build], capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"ip script failed: {out.stderr.strip()}")
    finally:
        subprocess.run(["bash", "-c", teardown], capture_output=True, check=False)


register(
    "lab_build_10",
    ours=ours,
    anchor=anchor,
    description="build + tear down a 10-host, 1-bridge lab (IPv4+IPv6, DAD off)",
    ours_label="netns_lab.Lab (pyroute2, one forked child per namespace)",
    anchor_label="bash script of ip(8) commands (ip netns add / link / addr, sysctl via ip netns exec)",
    runs=5,
    needs_root=True,
    needs_tools=("ip", "bash", "sysctl"),
)
