"""Prometheus metrics, opt-in: VRRP state and counters, checker verdicts and IPVS statistics on an HTTP endpoint.

Why these names: most keepalived dashboards and alerts are written against the keepalived exporters, which scrape
keepalived's dump files; serving the same metric names and labels directly lets those dashboards keep working
without the exporter.  The VRRP metrics follow the widely used keepalived-exporter (mehdy / cafebazaar):
``keepalived_vrrp_state{iname,intf,vrid,ip_address}`` (0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT, keepalived's numbers)
and ``keepalived_advertisements_received_total{iname,intf,vrid}`` and its siblings; the IPVS ones follow
gen2brain/keepalived_exporter (``keepalived_lvs_vip_*`` / ``keepalived_lvs_rs_*``).  Ours beyond them:
``keepalived_vrrp_discards_total{reason}`` for the RFC 6527 errors keepalived has no per-instance counter for
(checksum, version, VRID, ...), ``keepalived_vrrp_effective_priority`` and ``keepalived_checker_up``.

Why a collector over a snapshot: the values are read at scrape time from one ``DaemonSnapshot`` (the same one the
dump files are written from), so the endpoint never keeps a second copy of the counters.  The HTTP server
(prometheus_client's) runs in its own thread; ``on_loop`` makes the snapshot be taken on the daemon's event loop
thread, so nothing in the daemon needs a lock.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ipaddress
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from ipvs.model import ServiceKey, Stats
from pykeepalived.daemon.snapshot import DaemonSnapshot, InstanceSnapshot

log = logging.getLogger("pykeepalived.metrics")

SnapshotSource = Callable[[], DaemonSnapshot]

_VRRP_LABELS = ["iname", "intf", "vrid"]

#: (metric name without _total, help, keepalived counter name) in keepalived-exporter's order.
_VRRP_COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("keepalived_advertisements_received", "Advertisements received", "advert_rcvd"),
    ("keepalived_advertisements_sent", "Advertisements sent", "advert_sent"),
    ("keepalived_become_master", "Became master", "become_master"),
    ("keepalived_release_master", "Released master", "release_master"),
    ("keepalived_packet_length_errors", "Packet length errors", "packet_len_err"),
    ("keepalived_advertisements_interval_errors", "Advertisement interval errors", "advert_interval_err"),
    ("keepalived_ip_ttl_errors", "TTL errors", "ip_ttl_err"),
    ("keepalived_invalid_type_received", "Invalid type errors", "invalid_type_rcvd"),
    ("keepalived_address_list_errors", "Address list errors", "addr_list_err"),
    ("keepalived_authentication_invalid", "Authentication invalid", "invalid_authtype"),
    ("keepalived_authentication_mismatch", "Authentication mismatch", "authtype_mismatch"),
    ("keepalived_authentication_failure", "Authentication failure", "auth_failure"),
    ("keepalived_priority_zero_received", "Priority zero received", "pri_zero_rcvd"),
    ("keepalived_priority_zero_sent", "Priority zero sent", "pri_zero_sent"),
)

#: (suffix, help, Stats field) for keepalived_lvs_vip_* / keepalived_lvs_rs_* (gen2brain's names).
_LVS_COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("in_packets", "in packets", "inpkts"),
    ("out_packets", "out packets", "outpkts"),
    ("in_bytes", "in bytes", "inbytes"),
    ("out_bytes", "out bytes", "outbytes"),
    ("conn", "connections", "conns"),
)


class KeepalivedCollector(Collector):
    """A prometheus_client collector that turns one ``DaemonSnapshot`` per scrape into metric families."""

    def __init__(self, source: SnapshotSource) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("keepalived_up", "Status of the keepalived VRRP/checker process (1 up)")
        try:
            snap = self._source()
        except Exception as exc:  # a scrape must answer "down", never raise into the HTTP thread
            log.warning("metrics snapshot failed: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from _vrrp_families(snap.instances)
        yield from _checker_families(snap)
        yield from _lvs_families(snap)


def _labels(inst: InstanceSnapshot) -> list[str]:
    return [inst.name, inst.interface, str(inst.vrid)]


def _vip_ip(text: str) -> str:
    return str(ipaddress.ip_interface(text).ip)


def _vrrp_families(instances: Iterable[InstanceSnapshot]) -> Iterator[Metric]:
    insts = list(instances)
    state = GaugeMetricFamily("keepalived_vrrp_state", "State of vrrp (0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT)",
                              labels=[*_VRRP_LABELS, "ip_address"])
    excluded = GaugeMetricFamily("keepalived_vrrp_excluded_state", "State of vrrp with excluded VIP",
                                 labels=[*_VRRP_LABELS, "ip_address"])
    priority = GaugeMetricFamily("keepalived_vrrp_effective_priority", "Priority advertised now (base + tracking)",
                                 labels=_VRRP_LABELS)
    counters = {name: CounterMetricFamily(name, doc, labels=_VRRP_LABELS) for name, doc, _ in _VRRP_COUNTERS}
    discards = CounterMetricFamily("keepalived_vrrp_discards", "Adverts discarded for an RFC 6527 reason keepalived "
                                   "has no counter for", labels=[*_VRRP_LABELS, "reason"])
    for inst in insts:
        labels = _labels(inst)
        for vip in inst.vips:
            state.add_metric([*labels[:1], vip.dev, labels[2], _vip_ip(vip.address)], inst.state_number)
        if not inst.vips:
            state.add_metric([*labels, ""], inst.state_number)
        for vip in inst.evips:
            excluded.add_metric([*labels[:1], vip.dev, labels[2], _vip_ip(vip.address)], inst.state_number)
        priority.add_metric(labels, inst.effective_priority)
        values = inst.counters.as_keepalived()
        for name, _, key in _VRRP_COUNTERS:
            counters[name].add_metric(labels, values[key])
        for reason, n in inst.counters.other_discards:
            discards.add_metric([*labels, reason], n)
    yield state
    yield excluded
    yield priority
    yield from counters.values()
    yield discards


def _checker_families(snap: DaemonSnapshot) -> Iterator[Metric]:
    up = GaugeMetricFamily("keepalived_checker_up", "Checker verdict on a real server (1 up, 0 down)",
                           labels=["virtual_server", "real_server", "checker"])
    for c in snap.checkers:
        up.add_metric([c.virtual_server, c.real_server, c.checker], 1 if c.up else 0)
    yield up


def _vs_labels(key: ServiceKey) -> list[str]:
    if key.is_fwmark:
        return [f"FWM {key.fwmark}", "0", "FWM"]
    return [key.addr, str(key.port), {6: "TCP", 17: "UDP", 132: "SCTP"}.get(key.protocol, str(key.protocol))]


def _lvs_families(snap: DaemonSnapshot) -> Iterator[Metric]:
    vip_labels = ["ip", "port", "proto"]
    rs_labels = [*vip_labels, "rs_ip", "rs_port"]
    vip = {s: CounterMetricFamily(f"keepalived_lvs_vip_{s}", f"VIP {doc}", labels=vip_labels)
           for s, doc, _ in _LVS_COUNTERS}
    rs = {s: CounterMetricFamily(f"keepalived_lvs_rs_{s}", f"RS {doc}", labels=rs_labels)
          for s, doc, _ in _LVS_COUNTERS}
    weight = GaugeMetricFamily("keepalived_lvs_rs_weight", "RS weight in the kernel table", labels=rs_labels)
    active = GaugeMetricFamily("keepalived_lvs_rs_active_conns", "RS active connections", labels=rs_labels)
    inactive = GaugeMetricFamily("keepalived_lvs_rs_inactive_conns", "RS inactive connections", labels=rs_labels)
    for svc in snap.ipvs:
        labels = _vs_labels(svc.key)
        _add_stats(vip, labels, svc.stats)
        for d in svc.dests:
            dl = [*labels, d.dest.key.addr, str(d.dest.key.port)]
            _add_stats(rs, dl, d.stats)
            weight.add_metric(dl, d.dest.weight)
            active.add_metric(dl, d.active_conns)
            inactive.add_metric(dl, d.inact_conns)
    yield from vip.values()
    yield from rs.values()
    yield weight
    yield active
    yield inactive


def _add_stats(families: dict[str, CounterMetricFamily], labels: list[str], stats: Stats) -> None:
    for suffix, _, field_name in _LVS_COUNTERS:
        families[suffix].add_metric(labels, getattr(stats, field_name))


def on_loop(loop: asyncio.AbstractEventLoop, source: SnapshotSource, *, timeout: float = 2.0) -> SnapshotSource:
    """A source for the HTTP thread that takes the snapshot on ``loop``'s thread (waits at most ``timeout``;
    a stuck loop makes the scrape report keepalived_up 0 instead of hanging)."""

    def call() -> DaemonSnapshot:
        done: concurrent.futures.Future[DaemonSnapshot] = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(source())
            except Exception as exc:
                done.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return done.result(timeout)

    return call


class MetricsListenError(ValueError):
    """A metrics listen address that cannot be used; the message names the flag's value."""


def parse_listen(text: str, *, default_port: int = 9650) -> tuple[str, int]:
    """``HOST:PORT``, ``[V6]:PORT``, ``HOST`` or ``:PORT`` -> (host, port); 127.0.0.1 when no host is given."""
    host, port_text = text, ""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise MetricsListenError(f"metrics address {text!r}: expected [IPV6]:PORT")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    try:
        port = int(port_text) if port_text else default_port
        if not 0 <= port <= 65535:
            raise ValueError
        ipaddress.ip_address(host or "127.0.0.1")
    except ValueError:
        raise MetricsListenError(f"metrics address {text!r}: expected HOST:PORT with an IP address and a port "
                                 "0-65535") from None
    return host or "127.0.0.1", port


@dataclass
class MetricsServer:
    """The running endpoint: ``/metrics`` (any path answers) on ``host``:``port``."""

    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def serve(source: SnapshotSource, host: str = "127.0.0.1", port: int = 9650) -> MetricsServer:
    """Start the endpoint in a daemon thread with its own registry (nothing else of the process is exported).

    Raises OSError (address in use, ...) for the caller to report with the flag that asked for it.
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(KeepalivedCollector(source))
    server, thread = start_http_server(port, addr=host, registry=registry)
    return MetricsServer(server, thread)
