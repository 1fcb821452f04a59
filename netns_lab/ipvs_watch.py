"""The LVS half of a scenario: what the routers' keepalived.conf asks of IPVS, and what each director's kernel
IPVS table holds while the scenario runs.

* :func:`lvs_facts` reads the virtual servers of a config with our daemon's own parser (``pykeepalived -d``,
  run as a process like every daemon the lab runs): each real server's checker timing and keepalived's bound on
  detecting its death, ``delay_loop + (retry + 1) * connect_timeout + retry * delay_before_retry``;
* :class:`IpvsWatcher` samples each director's table (``/proc/net/ip_vs`` read from a thread inside the
  director's namespace: no process per sample, which matters inside User-Mode Linux) and keeps a sample per
  change, for :class:`~netns_lab.history.IpvsSample` records.
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import struct
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netns_lab.history import IpvsDest
from netns_lab.nsenter import call_in_netns
from netns_lab.scenario.model import has_virtual_servers

if TYPE_CHECKING:
    from netns_lab.lab import Lab

__all__ = ["IpvsWatcher", "LvsFacts", "RealServerFacts", "lvs_facts", "parse_ip_vs", "service_name"]

_LOG_PREFIX = re.compile(r"^\w{3} \w{3} +\d{1,2} \d\d:\d\d:\d\d(?:\.\d{3})?(?: \d{4})?: ")


def service_name(protocol: str, address: str | None, port: int | None, fwmark: int | None = None) -> str:
    """A service as :func:`parse_ip_vs` names it: ``TCP 10.0.0.100:80``, ``UDP [2001:db8::1]:53``, ``FWM 1``."""
    if fwmark is not None:
        return f"FWM {fwmark}"
    return f"{protocol.upper()} {_endpoint(str(address), int(port or 0))}"


def _endpoint(address: str, port: int) -> str:
    ip = ipaddress.ip_address(address)
    return f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"


# ------------------------------------------------------------------------------------------- the config
@dataclass(frozen=True)
class RealServerFacts:
    """A real server of one virtual server: ``dest`` "address:port", its weight, inhibit_on_failure, and
    keepalived's detection bound in seconds (the largest over its checkers; None without a checker)."""

    service: str
    dest: str
    weight: int
    inhibit: bool
    bound_s: float | None


@dataclass(frozen=True)
class LvsFacts:
    """The virtual servers of one router's config, as the checks need them."""

    real_servers: tuple[RealServerFacts, ...] = ()
    sorry: Mapping[str, str] = field(default_factory=dict)  # service -> sorry server dest


def _bound(checker: Mapping[str, Any]) -> float:
    retry = int(checker["retry"])
    return float(checker["delay_loop"]) + (retry + 1) * float(checker["connect_timeout"]) + retry * float(
        checker["delay_before_retry"]
    )


def lvs_facts(config: str) -> LvsFacts:
    """The virtual servers of ``config`` with keepalived's defaults and inheritance, read by ``pykeepalived -d``
    (the daemon's one parser). A config our parser rejects raises ValueError with its messages."""
    from netns_lab.daemons import run_daemon_cli

    if not has_virtual_servers(config):
        return LvsFacts()
    with tempfile.TemporaryDirectory(prefix="netns-lab-lvs-") as tmp:
        conf = Path(tmp) / "keepalived.conf"
        conf.write_text(config)
        done = run_daemon_cli("-d", "-f", str(conf), run_dir=Path(tmp))
    lines = [_LOG_PREFIX.sub("", line, count=1) for line in (done.stdout + done.stderr).splitlines()]
    try:
        start = lines.index("{")
        end = len(lines) - lines[::-1].index("}")
        resolved = json.loads("\n".join(lines[start:end]))
    except ValueError:
        raise ValueError("pykeepalived -d did not print the configuration:\n" + "\n".join(lines[-20:])) from None
    rss: list[RealServerFacts] = []
    sorry: dict[str, str] = {}
    for vs in resolved.get("virtual_servers", []):
        svc = service_name(vs["protocol"], vs["address"], vs["port"], vs["fwmark"])
        if vs.get("sorry_server"):
            sorry[svc] = _endpoint(vs["sorry_server"]["address"], int(vs["sorry_server"]["port"] or vs["port"] or 0))
        for rs in vs["real_servers"]:
            bounds = [_bound(c) for c in rs["checkers"] if c.get("connect_timeout") is not None]
            rss.append(
                RealServerFacts(
                    svc,
                    _endpoint(rs["address"], int(rs["port"] or 0)),
                    int(rs["weight"]),
                    bool(rs["inhibit_on_failure"]),
                    max(bounds) if bounds else None,
                )
            )
    return LvsFacts(tuple(rss), sorry)


# ------------------------------------------------------------------------------------------- the kernel
def _hex_endpoint(text: str) -> str:
    """``0A000064:0050`` or ``[2001:0db8:...]:0050`` (``/proc/net/ip_vs``) -> ``10.0.0.100:80``."""
    addr, _, port = text.rpartition(":")
    if addr.startswith("["):
        ip = ipaddress.ip_address(addr[1:-1])
        return f"[{ip}]:{int(port, 16)}"
    return f"{socket.inet_ntoa(struct.pack('!I', int(addr, 16)))}:{int(port, 16)}"


def parse_ip_vs(text: str, hosts: Mapping[str, str] | None = None) -> tuple[tuple[str, ...], tuple[IpvsDest, ...]]:
    """The services and destinations of a ``/proc/net/ip_vs`` text; ``hosts`` maps an address to a lab host."""
    names = hosts or {}
    services: list[str] = []
    dests: list[IpvsDest] = []
    current = ""
    for line in text.splitlines():
        words = line.split()
        if not words or words[0] in ("IP", "Prot") or words[:2] == ["->", "RemoteAddress:Port"]:
            continue
        if words[0] == "->" and current and len(words) >= 4:
            dest = _hex_endpoint(words[1])
            host = names.get(dest.rpartition(":")[0].strip("[]"), "")
            dests.append(IpvsDest(current, dest, int(words[3]), host))
        elif words[0] == "FWM" and len(words) >= 2:
            current = f"FWM {int(words[1], 16)}"
            services.append(current)
        elif words[0] in ("TCP", "UDP", "SCTP") and len(words) >= 2:
            current = f"{words[0]} {_hex_endpoint(words[1])}"
            services.append(current)
    return tuple(services), tuple(dests)


def _read_table() -> str:
    try:
        return Path("/proc/thread-self/net/ip_vs").read_text()
    except FileNotFoundError:
        return ""  # no IPVS in this kernel (yet): an empty table


class IpvsWatcher:
    """Sample the IPVS table of each director every ``interval`` s in a thread, keeping a sample per change.

    ``samples`` holds (epoch seconds, host, services, dests) in time order; ``hosts`` maps addresses to lab
    host names so each destination says which real server it is."""

    def __init__(
        self, lab: Lab, directors: Sequence[str], hosts: Mapping[str, str], *, interval: float = 0.1
    ) -> None:
        self.lab = lab
        self.directors = list(directors)
        self.hosts = dict(hosts)
        self.interval = interval
        self.samples: list[tuple[float, str, tuple[str, ...], tuple[IpvsDest, ...]]] = []
        self._last: dict[str, tuple[tuple[str, ...], tuple[IpvsDest, ...]]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="netns-lab-ipvs-watcher", daemon=True)

    def sample(self) -> None:
        """Read every director's table once (recording the ones that changed)."""
        for host in self.directors:
            t = time.time()
            table = parse_ip_vs(call_in_netns(self.lab.netns(host), _read_table), self.hosts)
            if self._last.get(host) != table:
                self._last[host] = table
                self.samples.append((t, host, *table))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sample()
            except OSError:
                if self._stop.is_set() or not self.lab.active:
                    return
                raise
            self._stop.wait(self.interval)

    def __enter__(self) -> IpvsWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
