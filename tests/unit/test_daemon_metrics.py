"""The opt-in Prometheus endpoint: a real HTTP scrape on 127.0.0.1 returns keepalived-exporter's metric names with the
snapshot's values; a failing or stuck source reports keepalived_up 0 instead of breaking the scrape."""

from __future__ import annotations

import asyncio
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ipvs.model import Destination, DestState, Service, ServiceKey, ServiceState, Stats
from pykeepalived.daemon.metrics import (
    MetricsListenError,
    MetricsServer,
    SnapshotSource,
    on_loop,
    parse_listen,
    serve,
)
from pykeepalived.daemon.snapshot import (
    CheckerResult,
    DaemonSnapshot,
    InstanceSnapshot,
    VipSnapshot,
    VrrpCounters,
)
from vrrp.core.state import State

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _snapshot() -> DaemonSnapshot:
    vi1 = InstanceSnapshot(
        name="VI_1", state=State.MASTER, vrid=51, interface="eth0", effective_priority=150,
        vips=(VipSnapshot("192.0.2.100/24", "eth0", is_set=True), VipSnapshot("192.0.2.101/32", "eth1")),
        evips=(VipSnapshot("198.51.100.5/32", "eth0"),),
        counters=VrrpCounters(advert_rcvd=3, advert_sent=120, become_master=2, release_master=1, ip_ttl_err=4,
                              auth_failure=5, pri_zero_sent=1, other_discards=(("checksum", 6),)))
    vi2 = InstanceSnapshot(name="VI_2", state=State.BACKUP, vrid=52, interface="eth0",
                           counters=VrrpCounters(advert_rcvd=77))
    svc = ServiceKey.inet(6, "192.0.2.10", 80)
    rs = DestState(Destination.of("192.0.2.21", 8080, weight=3), active_conns=2, inact_conns=1,
                   stats=Stats(conns=10, inpkts=100, outpkts=90, inbytes=6000, outbytes=50000))
    ipvs = (ServiceState(Service(svc, "rr"), (rs,), Stats(conns=10, inpkts=100, outpkts=90, inbytes=6000,
                                                            outbytes=50000)),)
    checkers = (CheckerResult("[192.0.2.10]:tcp:80", "[192.0.2.21]:tcp:8080", "TCP_CHECK", up=True),
                CheckerResult("[192.0.2.10]:tcp:80", "[192.0.2.22]:tcp:8080", "HTTP_GET", up=False))
    return DaemonSnapshot(taken_at=0.0, instances=(vi1, vi2), checkers=checkers, ipvs=ipvs)


@contextmanager
def _serving(source: SnapshotSource) -> Iterator[MetricsServer]:
    server = serve(source, "127.0.0.1", 0)
    try:
        yield server
    finally:
        server.close()


def _scrape(port: int) -> tuple[str, Samples]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        assert resp.status == 200
        text = resp.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return text, samples


def _l(**kw: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(kw.items()))


def test_scrape_has_keepalived_exporter_names_and_values() -> None:
    with _serving(_snapshot) as server:
        assert server.port > 0
        text, samples = _scrape(server.port)
    vi1 = {"iname": "VI_1", "intf": "eth0", "vrid": "51"}
    assert samples[("keepalived_up", ())] == 1
    assert samples[("keepalived_vrrp_state", _l(**vi1, ip_address="192.0.2.100"))] == 2
    assert samples[("keepalived_vrrp_state", _l(**{**vi1, "intf": "eth1"}, ip_address="192.0.2.101"))] == 2
    assert samples[("keepalived_vrrp_state", _l(iname="VI_2", intf="eth0", vrid="52", ip_address=""))] == 1
    assert samples[("keepalived_vrrp_excluded_state", _l(**vi1, ip_address="198.51.100.5"))] == 2
    assert samples[("keepalived_advertisements_sent_total", _l(**vi1))] == 120
    assert samples[("keepalived_advertisements_received_total", _l(**vi1))] == 3
    assert samples[("keepalived_advertisements_received_total", _l(iname="VI_2", intf="eth0", vrid="52"))] == 77
    assert samples[("keepalived_become_master_total", _l(**vi1))] == 2
    assert samples[("keepalived_release_master_total", _l(**vi1))] == 1
    assert samples[("keepalived_ip_ttl_errors_total", _l(**vi1))] == 4
    assert samples[("keepalived_authentication_failure_total", _l(**vi1))] == 5
    assert samples[("keepalived_priority_zero_sent_total", _l(**vi1))] == 1
    assert samples[("keepalived_vrrp_discards_total", _l(**vi1, reason="checksum"))] == 6
    assert samples[("keepalived_vrrp_effective_priority", _l(**vi1))] == 150
    assert samples[("keepalived_checker_up", _l(virtual_server="[192.0.2.10]:tcp:80",
                                                real_server="[192.0.2.21]:tcp:8080", checker="TCP_CHECK"))] == 1
    assert samples[("keepalived_checker_up", _l(virtual_server="[192.0.2.10]:tcp:80",
                                                real_server="[192.0.2.22]:tcp:8080", checker="HTTP_GET"))] == 0
    vip = {"ip": "192.0.2.10", "port": "80", "proto": "TCP"}
    rs = {**vip, "rs_ip": "192.0.2.21", "rs_port": "8080"}
    assert samples[("keepalived_lvs_vip_conn_total", _l(**vip))] == 10
    assert samples[("keepalived_lvs_vip_out_bytes_total", _l(**vip))] == 50000
    assert samples[("keepalived_lvs_rs_in_packets_total", _l(**rs))] == 100
    assert samples[("keepalived_lvs_rs_weight", _l(**rs))] == 3
    assert samples[("keepalived_lvs_rs_active_conns", _l(**rs))] == 2
    # every keepalived-exporter VRRP counter is there, with its TYPE
    for name in ("advertisements_received", "advertisements_sent", "become_master", "release_master",
                 "packet_length_errors", "advertisements_interval_errors", "ip_ttl_errors", "invalid_type_received",
                 "address_list_errors", "authentication_invalid", "authentication_mismatch",
                 "authentication_failure", "priority_zero_received", "priority_zero_sent"):
        assert f"# TYPE keepalived_{name}_total counter" in text or f"# TYPE keepalived_{name} counter" in text
        assert ("keepalived_" + name + "_total", _l(**vi1)) in samples


def test_each_scrape_reads_a_fresh_snapshot() -> None:
    calls = []

    def source() -> DaemonSnapshot:
        calls.append(1)
        inst = InstanceSnapshot(name="VI", state=State.BACKUP, vrid=1, interface="e",
                                counters=VrrpCounters(advert_rcvd=len(calls)))
        return DaemonSnapshot(taken_at=0.0, instances=(inst,))

    with _serving(source) as server:
        key = ("keepalived_advertisements_received_total", _l(iname="VI", intf="e", vrid="1"))
        first = _scrape(server.port)[1][key]
        second = _scrape(server.port)[1][key]
    assert second > first


def test_failing_source_reports_down_not_an_error() -> None:
    def broken() -> DaemonSnapshot:
        raise RuntimeError("daemon not ready")

    with _serving(broken) as server:
        _, samples = _scrape(server.port)
    assert samples == {("keepalived_up", ()): 0}


def test_on_loop_takes_the_snapshot_on_the_loop_thread() -> None:
    async def scenario() -> tuple[float, set[int]]:
        threads: set[int] = set()

        def source() -> DaemonSnapshot:
            threads.add(threading.get_ident())
            return _snapshot()

        with _serving(on_loop(asyncio.get_running_loop(), source)) as server:
            _, samples = await asyncio.to_thread(_scrape, server.port)
        return samples[("keepalived_up", ())], threads

    up, threads = asyncio.run(scenario())
    assert up == 1 and threads == {threading.main_thread().ident}


def test_on_loop_with_a_stuck_loop_answers_down() -> None:
    loop = asyncio.new_event_loop()  # never run: the snapshot can never be taken
    try:
        with _serving(on_loop(loop, _snapshot, timeout=0.2)) as server:
            _, samples = _scrape(server.port)
    finally:
        loop.close()
    assert samples == {("keepalived_up", ()): 0}


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:9650", ("127.0.0.1", 9650)),
    (":9100", ("127.0.0.1", 9100)),
    ("0.0.0.0", ("0.0.0.0", 9650)),
    ("[::1]:9100", ("::1", 9100)),
    ("::1", ("::1", 9650)),
])
def test_parse_listen(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["host.example:80", "127.0.0.1:99999", "1.2.3.4:x", "[::1", "[::1]x"])
def test_parse_listen_refuses_with_the_value(text: str) -> None:
    with pytest.raises(MetricsListenError, match="metrics address"):
        parse_listen(text)


def test_port_in_use_is_an_oserror() -> None:
    with _serving(_snapshot) as server, pytest.raises(OSError):
        serve(_snapshot, "127.0.0.1", server.port)
