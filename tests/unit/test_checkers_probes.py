"""Every checker's probe against real servers on loopback (HTTP, HTTPS with a fresh self-signed certificate,
DNS answered with dnspython, SMTP by aiosmtpd, UDP echo, ICMP, scripts, files): pass, fail, timeout, wrong
status, wrong digest, regex miss. No wall-clock assertions: a timeout shows as a failed probe, and "a silent
server delays no other check" is shown by completion order."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import socket
import ssl
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from checkers.core.spec import (
    BOOTSTRAP_DELAY,
    CheckSpec,
    DnsProbe,
    FileProbe,
    HttpProbe,
    MiscProbe,
    PingProbe,
    ProbeResult,
    ProbeSpec,
    SmtpProbe,
    Target,
    TcpProbe,
    Timing,
    TlsSpec,
    UdpProbe,
    UrlSpec,
)
from checkers.io.probes import run_probe
from checkers.io.udp import parse_hex
from netns_lab.servers import (
    HttpLog,
    Route,
    closed_port,
    dns_answerer,
    http_server,
    in_fresh_netns,
    line_server,
    self_signed,
    server_tls,
    silent_server,
    smtp_server,
    udp_server,
    unanswered_port,
)

LO = "127.0.0.1"
BODY = b"<html>hello keepalived</html>\n"
MD5 = hashlib.md5(BODY).hexdigest()
ROUTES = {"/": Route(200, BODY), "/missing": Route(404, b"nope"), "/slow": Route(200, BODY, delay=30),
          "/err": Route(503, b"down")}
root = pytest.mark.lab  # raw ICMP sockets, setuid, network namespaces: the lab tier's needs (root + netns)


def check(kind: str, port: int, probe: ProbeSpec, ip: str = LO, timeout: float = 0.5, **target: Any) -> CheckSpec:
    return CheckSpec("k", kind, Target(ip, port, **target), probe, Timing(connect_timeout=timeout, delay_loop=2.0),
                     name=f"[{ip}]:tcp:{port}")


def probe(spec: CheckSpec) -> ProbeResult:
    return asyncio.run(run_probe(spec))


def with_server(server: Callable[[], Any], make: Callable[[int], CheckSpec]) -> ProbeResult:
    async def go() -> ProbeResult:
        async with server() as port:
            return await run_probe(make(port))
    return asyncio.run(go())


# --------------------------------------------------------------------------- TCP_CHECK
def test_tcp_pass_fail_and_timeout() -> None:
    assert with_server(lambda: http_server(LO, ROUTES), lambda p: check("TCP_CHECK", p, TcpProbe())).ok
    refused = probe(check("TCP_CHECK", closed_port(LO), TcpProbe()))
    assert not refused.ok and "failed" in refused.reason
    hung = with_server(lambda: unanswered_port(LO), lambda p: check("TCP_CHECK", p, TcpProbe(), timeout=0.3))
    assert not hung.ok and hung.reason == "Timeout connecting"


def test_tcp_over_ipv6_loopback_with_bindto_and_fwmark() -> None:
    res = with_server(lambda: http_server("::1", ROUTES),
                      lambda p: check("TCP_CHECK", p, TcpProbe(), ip="::1", bindto="::1", fwmark=7))
    assert res.ok


def test_tcp_bindto_an_address_we_do_not_have_fails_cleanly() -> None:
    res = with_server(lambda: http_server(LO, ROUTES), lambda p: check("TCP_CHECK", p, TcpProbe(), bindto="192.0.2.7"))
    assert not res.ok


# --------------------------------------------------------------------------- HTTP_GET / SSL_GET
def http(port: int, *urls: UrlSpec, tls: TlsSpec | None = None, timeout: float = 0.5,
         virtualhost: str | None = None) -> CheckSpec:
    kind = "SSL_GET" if tls else "HTTP_GET"
    return check(kind, port, HttpProbe(urls, tls=tls, virtualhost=virtualhost), timeout=timeout)


def run_http(*urls: UrlSpec, log: HttpLog | None = None, **kw: Any) -> ProbeResult:
    return with_server(lambda: http_server(LO, ROUTES, log=log), lambda p: http(p, *urls, **kw))


def test_http_pass_with_status_digest_and_regex() -> None:
    assert run_http(UrlSpec("/", digest=MD5, regex=r"hello\s+keep")).ok


def test_http_wrong_status() -> None:
    res = run_http(UrlSpec("/err"))
    assert not res.ok and "HTTP status code error" in res.reason


def test_http_status_ranges_and_single_codes() -> None:
    assert run_http(UrlSpec("/missing", status_codes=((200, 299), (404, 404)))).ok
    assert run_http(UrlSpec("/err", status_codes=((500, 599),))).ok
    assert not run_http(UrlSpec("/", status_codes=((300, 399),))).ok


def test_http_wrong_digest() -> None:
    res = run_http(UrlSpec("/", digest="0" * 32))
    assert not res.ok and "MD5 digest error" in res.reason


def test_http_digest_compares_case_insensitively() -> None:
    assert run_http(UrlSpec("/", digest=MD5.upper())).ok


def test_http_regex_miss_and_regex_no_match() -> None:
    miss = run_http(UrlSpec("/", regex="goodbye"))
    assert not miss.ok and "Regex" in miss.reason
    assert run_http(UrlSpec("/", regex="goodbye", regex_no_match=True)).ok
    assert not run_http(UrlSpec("/", regex="hello", regex_no_match=True)).ok


def test_http_every_url_block_must_pass() -> None:
    assert run_http(UrlSpec("/", digest=MD5), UrlSpec("/missing", status_codes=((404, 404),))).ok
    res = run_http(UrlSpec("/", digest=MD5), UrlSpec("/missing"))
    assert not res.ok and "/missing" in res.reason


def test_http_sends_virtualhost_and_keepalived_user_agent() -> None:
    log = HttpLog([])
    assert run_http(UrlSpec("/"), UrlSpec("/", virtualhost="url.example"), log=log, virtualhost="vs.example").ok
    assert [h["Host"] for _, h in log.requests] == ["vs.example", "url.example"]
    assert all(h["User-Agent"] == "KeepAliveClient" for _, h in log.requests)
    assert all(line == "GET / HTTP/1.1" for line, _ in log.requests)
    assert all(set(h) == {"Host", "User-Agent", "Connection"} for _, h in log.requests)  # no Accept-Encoding


def test_http_timeout_on_a_slow_answer_and_on_a_silent_server() -> None:
    slow = run_http(UrlSpec("/slow"), timeout=0.3)
    assert not slow.ok
    silent = with_server(lambda: silent_server(LO), lambda p: http(p, UrlSpec("/"), timeout=0.3))
    assert not silent.ok


def test_http_connection_refused() -> None:
    res = probe(http(closed_port(LO), UrlSpec("/")))
    assert not res.ok and "failed" in res.reason


def test_a_silent_server_delays_no_other_check() -> None:
    """Forty probes hang on servers that accept and never answer; the good one finishes first anyway."""
    async def go() -> list[str]:
        async with silent_server(LO) as dead, http_server(LO, ROUTES) as good:
            specs = [CheckSpec(f"dead{i}", "HTTP_GET", Target(LO, dead), HttpProbe((UrlSpec("/"),)),
                               Timing(connect_timeout=1.0)) for i in range(20)]
            specs += [CheckSpec(f"tcp{i}", "SMTP_CHECK", Target(LO, dead), SmtpProbe(), Timing(connect_timeout=1.0))
                      for i in range(20)]
            specs.append(CheckSpec("good", "HTTP_GET", Target(LO, good), HttpProbe((UrlSpec("/", digest=MD5),)),
                                   Timing(connect_timeout=1.0)))
            order: list[str] = []

            async def one(s: CheckSpec) -> None:
                res = await run_probe(s)
                order.append(f"{s.key}:{res.ok}")

            await asyncio.gather(*(one(s) for s in specs))
            return order
    order = asyncio.run(go())
    assert order[0] == "good:True"
    assert all(o.endswith(":False") for o in order[1:])


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    d = tmp_path_factory.mktemp("tls")
    cert, key = self_signed(d, "rs.example")
    other, _ = self_signed(d, "other.example")
    return cert, key, other


def run_ssl(certs: tuple[Path, Path, Path], tls: TlsSpec, *urls: UrlSpec, sni: list[str] | None = None,
            virtualhost: str | None = None) -> ProbeResult:
    cert, key, _ = certs
    return with_server(lambda: http_server(LO, ROUTES, tls=server_tls(cert, key, sni)),
                       lambda p: http(p, *(urls or (UrlSpec("/", digest=MD5),)), tls=tls, virtualhost=virtualhost))


def test_ssl_get_pass_without_ca_like_keepalived(certs: tuple[Path, Path, Path]) -> None:
    assert run_ssl(certs, TlsSpec()).ok


def test_ssl_get_wrong_digest_and_wrong_status(certs: tuple[Path, Path, Path]) -> None:
    assert not run_ssl(certs, TlsSpec(), UrlSpec("/", digest="1" * 32)).ok
    assert not run_ssl(certs, TlsSpec(), UrlSpec("/err")).ok


def test_ssl_get_verifies_against_the_given_ca(certs: tuple[Path, Path, Path], tmp_path: Path) -> None:
    cert, _, other = certs
    assert run_ssl(certs, TlsSpec(ca=str(cert))).ok
    named, named_key = self_signed(tmp_path, "www.example", ips=())  # no IP in it: the chain counts, not the name
    assert with_server(lambda: http_server(LO, ROUTES, tls=server_tls(named, named_key)),
                       lambda p: http(p, UrlSpec("/"), tls=TlsSpec(ca=str(named)))).ok
    res = run_ssl(certs, TlsSpec(ca=str(other)))
    assert not res.ok and "failed" in res.reason


def test_ssl_get_sends_sni_only_when_enabled(certs: tuple[Path, Path, Path]) -> None:
    seen: list[str] = []
    assert run_ssl(certs, TlsSpec(enable_sni=True, sni_name="rs.example"), sni=seen).ok
    assert run_ssl(certs, TlsSpec(enable_sni=True), sni=seen, virtualhost="vh.example").ok
    assert run_ssl(certs, TlsSpec(), sni=seen, virtualhost="vh.example").ok
    assert seen == ["rs.example", "vh.example", ""]  # "": the third handshake carried no server name


def test_ssl_get_against_a_plain_http_server_fails() -> None:
    res = with_server(lambda: http_server(LO, ROUTES), lambda p: http(p, UrlSpec("/"), tls=TlsSpec()))
    assert not res.ok


def test_http_bind_port_is_refused_not_ignored() -> None:
    spec = CheckSpec("k", "HTTP_GET", Target(LO, 80, bind_port=4000), HttpProbe())
    with pytest.raises(ValueError, match="bind_port"):
        asyncio.run(run_probe(spec))


# --------------------------------------------------------------------------- SMTP_CHECK
def test_smtp_pass_against_aiosmtpd() -> None:
    assert with_server(lambda: smtp_server(LO), lambda p: check("SMTP_CHECK", p, SmtpProbe("lb.example"))).ok


def test_smtp_wrong_banner_refused_and_silent() -> None:
    res = with_server(lambda: line_server(LO, b"554 go away\r\n"), lambda p: check("SMTP_CHECK", p, SmtpProbe()))
    assert not res.ok and res.reason == "Bad greeting banner from server"
    assert not probe(check("SMTP_CHECK", closed_port(LO), SmtpProbe())).ok
    res = with_server(lambda: silent_server(LO), lambda p: check("SMTP_CHECK", p, SmtpProbe(), timeout=0.3))
    assert not res.ok


def smtp_scripted(*replies: bytes) -> ProbeResult:
    return with_server(lambda: line_server(LO, b"220 mx.test ESMTP\r\n", replies),
                       lambda p: check("SMTP_CHECK", p, SmtpProbe(), timeout=0.3))


def test_smtp_helo_refused_or_unanswered() -> None:
    assert smtp_scripted(b"250 hi\r\n", b"221 bye\r\n").ok
    assert smtp_scripted(b"550 no\r\n").reason == "Bad HELO response from server"
    assert not smtp_scripted().ok  # HELO never answered


def test_smtp_quit_needs_a_reply_of_any_code() -> None:
    assert smtp_scripted(b"250 hi\r\n", b"500 what\r\n").ok  # keepalived only reads the QUIT reply
    assert smtp_scripted(b"250 hi\r\n").reason in ("Read timeout from server", "Timeout connecting")


# --------------------------------------------------------------------------- DNS_CHECK
RECORDS = {(".", "SOA"): ["a.root. hostmaster.root. 1 7200 900 1209600 86400"],
           ("www.example.", "A"): ["192.0.2.80"]}


def dns_check(qtype: str, name: str, rcode: int = 0, ip: str = LO) -> ProbeResult:
    return with_server(lambda: udp_server(ip, dns_answerer(RECORDS, rcode)),
                       lambda p: check("DNS_CHECK", p, DnsProbe(qtype, name), ip=ip))


def test_dns_pass_soa_and_a() -> None:
    assert dns_check("SOA", ".").ok
    assert dns_check("A", "www.example").ok
    assert dns_check("AAAA", "www.example", ip="::1").ok  # NOERROR with no answer is a pass, as keepalived


def test_dns_error_rcode_fails() -> None:
    res = dns_check("A", "www.example", rcode=2)
    assert not res.ok and "rcode = 2" in res.reason
    assert not dns_check("A", "nx.example", rcode=3).ok


def test_dns_no_server_and_silent_server() -> None:
    assert not probe(check("DNS_CHECK", closed_port(LO, socket.SOCK_DGRAM), DnsProbe())).ok
    res = with_server(lambda: udp_server(LO, lambda d: None), lambda p: check("DNS_CHECK", p, DnsProbe(), timeout=0.3))
    assert not res.ok and res.reason == "Timeout connecting"


def test_dns_ignores_replies_with_another_id() -> None:
    def wrong_id(wire: bytes) -> bytes:
        reply = bytearray(dns_answerer(RECORDS)(wire) or b"")
        reply[0] ^= 0xFF
        return bytes(reply)
    res = with_server(lambda: udp_server(LO, wrong_id), lambda p: check("DNS_CHECK", p, DnsProbe(), timeout=0.3))
    assert not res.ok and res.reason == "Timeout connecting"


# --------------------------------------------------------------------------- UDP_CHECK
def udp(answer: Callable[[bytes], bytes | None], p: UdpProbe, timeout: float = 0.3) -> ProbeResult:
    return with_server(lambda: udp_server(LO, answer), lambda port: check("UDP_CHECK", port, p, timeout=timeout))


def test_udp_echo_with_required_reply_and_wildcards() -> None:
    reply, mask = parse_hex("68 65 6X 6c")
    assert (reply, mask) == (b"he`l", b"\x00\x00\x0f\x00")
    p = UdpProbe(payload=b"hello", require_reply=True, reply=reply, reply_mask=mask)
    assert udp(lambda d: d, p).ok
    assert udp(lambda d: b"hemlo", p).ok  # 0x6d matches 6X
    assert not udp(lambda d: b"jello", p).ok


def test_udp_reply_length_limits() -> None:
    assert not udp(lambda d: d, UdpProbe(payload=b"hello", require_reply=True, min_len=10)).ok
    assert not udp(lambda d: d, UdpProbe(payload=b"hello", require_reply=True, max_len=3)).ok


def test_udp_silence_passes_unless_a_reply_is_required() -> None:
    assert udp(lambda d: None, UdpProbe(payload=b"x")).ok
    assert not udp(lambda d: None, UdpProbe(payload=b"x", require_reply=True)).ok


def test_udp_port_unreachable_fails() -> None:
    res = probe(check("UDP_CHECK", closed_port(LO, socket.SOCK_DGRAM), UdpProbe(payload=b"x"), timeout=1.0))
    assert not res.ok and "failed" in res.reason


def test_parse_hex_is_keepalived_read_hex_str() -> None:
    assert parse_hex("0102ff") == (b"\x01\x02\xff", b"")
    assert parse_hex("X1 2x") == (b"\x01\x20", b"\xf0\x0f")


# --------------------------------------------------------------------------- MISC_CHECK
def misc(argv: list[str], **kw: Any) -> ProbeResult:
    return probe(check("MISC_CHECK", 0, MiscProbe(tuple(argv), **kw)))


def test_misc_exit_codes() -> None:
    assert misc(["/bin/true"]).ok
    res = misc(["/bin/false"])
    assert not res.ok and "status 1" in res.reason
    assert not misc([sys.executable, "-c", "raise SystemExit(5)"]).ok


def test_misc_dynamic_weight_from_the_exit_code() -> None:
    assert misc([sys.executable, "-c", "raise SystemExit(5)"], dynamic=True) == ProbeResult(True, weight=3)
    assert misc([sys.executable, "-c", "raise SystemExit(2)"], dynamic=True) == ProbeResult(True, weight=0)
    assert misc(["/bin/true"], dynamic=True) == ProbeResult(True)
    assert not misc(["/bin/false"], dynamic=True).ok


def test_misc_timeout_kills_the_script_and_its_children(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    script = f"import os,time; open({str(pidfile)!r},'w').write(str(os.getpid())); time.sleep(60)"
    res = misc([sys.executable, "-c", script], timeout=0.5)
    assert not res.ok and "timed out" in res.reason
    pid = int(pidfile.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_misc_never_goes_through_a_shell(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    assert misc(["/bin/echo", f"$(touch {marker})", ";", "touch", str(marker)]).ok
    assert not marker.exists()


def test_misc_missing_program_fails_cleanly() -> None:
    res = misc(["/nonexistent/check.sh"])
    assert not res.ok and "could not run" in res.reason


@root
def test_misc_runs_as_the_given_user() -> None:
    code = "import os,sys; sys.exit(0 if os.getuid() == 65534 and os.getgroups() == [os.getgid()] else 1)"
    assert misc(["/usr/bin/python3", "-c", code], user="nobody").ok  # no root group left behind
    assert not misc(["/usr/bin/python3", "-c", code]).ok


# --------------------------------------------------------------------------- FILE_CHECK
def test_file_check_weights_and_failures(tmp_path: Path) -> None:
    f = tmp_path / "state"
    def file_probe(text: str | None, **kw: Any) -> ProbeResult:
        if text is None:
            f.unlink(missing_ok=True)
        else:
            f.write_text(text)
        return probe(check("FILE_CHECK", 0, FileProbe(str(f), **kw)))
    assert file_probe("0\n") == ProbeResult(True, weight_offset=0)
    assert file_probe("5\n", weight=2) == ProbeResult(True, weight_offset=10)
    assert file_probe("5\n", weight=2, reverse=True) == ProbeResult(True, weight_offset=-10)
    assert not file_probe("1\n", weight=0).ok
    assert file_probe("0\n", weight=0).ok
    assert not file_probe(str(-(2**31)), weight=1).ok
    assert file_probe(None) == ProbeResult(True, weight_offset=0)  # missing file reads as 0


# --------------------------------------------------------------------------- PING_CHECK
@root
@pytest.mark.parametrize("ip", ["127.0.0.1", "::1"])
def test_ping_loopback_answers(ip: str) -> None:
    assert probe(check("PING_CHECK", 0, PingProbe(), ip=ip)).ok


def _ping_in_netns(ip: str) -> tuple[bool, str]:
    res = asyncio.run(run_probe(check("PING_CHECK", 0, PingProbe(), ip=ip, timeout=0.3)))
    return res.ok, res.reason


@root
def test_ping_no_reply_times_out_and_unreachable_fails() -> None:
    setup = [["ip", "link", "set", "lo", "up"], ["ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1"],
             ["ip", "addr", "add", "10.99.0.1/24", "dev", "v0"], ["ip", "link", "set", "v0", "up"],
             ["ip", "link", "set", "v1", "up"]]
    assert in_fresh_netns(lambda: _ping_in_netns("10.99.0.1"), setup) == (True, "")
    ok, reason = in_fresh_netns(lambda: _ping_in_netns("10.99.0.2"), setup)  # the veth peer has no address
    assert not ok and reason in ("PING_CHECK no echo reply from", "Timeout connecting")
    for ip in ("127.0.0.1", "::1"):
        ok, reason = in_fresh_netns(functools.partial(_ping_in_netns, ip))  # lo down
        assert not ok and "failed" in reason


# --------------------------------------------------------------------------- driver
def test_driver_runs_real_probes_and_reports_verdicts() -> None:
    from checkers.core.machine import LogLine, Verdict, WeightChanged
    from checkers.io.driver import CheckerDriver

    async def go() -> list[Verdict | WeightChanged | LogLine]:
        got: list[Verdict | WeightChanged | LogLine] = []
        async with http_server(LO, ROUTES) as good:
            driver = CheckerDriver(got.append)
            t = Timing(delay_loop=0.2, connect_timeout=0.5, retry=1, delay_before_retry=0.1, warmup=0)
            driver.add([CheckSpec("up", "TCP_CHECK", Target(LO, good), TcpProbe(), t, name="up"),
                        CheckSpec("down", "TCP_CHECK", Target(LO, closed_port(LO)), TcpProbe(), t, name="down")])
            runner = asyncio.create_task(driver.run())
            while not any(isinstance(a, Verdict) for a in got):
                await asyncio.sleep(0.05)
            driver.stop()
            await runner
            assert driver.in_flight == 0
            assert driver.lateness and min(driver.lateness) >= 0
        return got

    got = asyncio.run(asyncio.wait_for(go(), 10 + BOOTSTRAP_DELAY))
    assert Verdict("down", False) in got
    assert not any(isinstance(a, Verdict) and a.key == "up" for a in got)




def test_thousands_of_probes_run_at_once_and_hung_ones_block_none() -> None:
    """1000 TCP and 200 HTTP probes to live servers, 300 to a port whose connects hang and 300 to a server that
    accepts and never answers: every live one passes, every hung one fails, all in one gather."""
    async def go() -> tuple[list[ProbeResult], list[ProbeResult]]:
        async with http_server(LO, ROUTES) as good, unanswered_port(LO) as hung, silent_server(LO) as silent:
            t = Timing(connect_timeout=5.0)  # roomy: the machine is shared; this checks outcomes, not speed
            live = [CheckSpec(f"l{i}", "TCP_CHECK", Target(LO, good), TcpProbe(), t) for i in range(1000)]
            live += [CheckSpec(f"h{i}", "HTTP_GET", Target(LO, good), HttpProbe((UrlSpec("/", digest=MD5),)), t)
                     for i in range(200)]
            dead = [CheckSpec(f"d{i}", "TCP_CHECK", Target(LO, hung), TcpProbe(), t) for i in range(300)]
            dead += [CheckSpec(f"s{i}", "HTTP_GET", Target(LO, silent), HttpProbe(), t) for i in range(300)]
            results = await asyncio.gather(*(run_probe(s) for s in live + dead))
            return results[:len(live)], results[len(live):]
    live, dead = asyncio.run(go())
    assert [r for r in live if not r.ok] == []
    assert all(not r.ok for r in dead)


# --------------------------------------------------------------------------- common connection options
def test_bind_if_binds_the_probe_to_an_interface() -> None:
    assert with_server(lambda: http_server(LO, ROUTES), lambda p: check("TCP_CHECK", p, TcpProbe(), bind_if="lo")).ok
    res = with_server(lambda: http_server(LO, ROUTES),
                      lambda p: check("TCP_CHECK", p, TcpProbe(), bind_if="nosuchdev0"))
    assert not res.ok


def test_bind_port_sets_the_source_port() -> None:
    seen: list[int] = []

    async def go() -> ProbeResult:
        async def handle(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            seen.append(w.get_extra_info("peername")[1])
            w.close()
        server = await asyncio.start_server(handle, LO, 0)
        port = server.sockets[0].getsockname()[1]
        src = closed_port(LO)
        try:
            res = await run_probe(check("TCP_CHECK", port, TcpProbe(), bindto=LO, bind_port=src))
            await asyncio.sleep(0.1)
            assert seen == [src]
            return res
        finally:
            server.close()
    assert asyncio.run(go()).ok


def _probe_with_mark_in_netns(mark: int | None) -> bool:
    async def go() -> bool:
        async with http_server(LO, ROUTES) as port:
            spec = check("TCP_CHECK", port, TcpProbe(), timeout=0.5, fwmark=mark)
            return (await run_probe(spec)).ok
    return asyncio.run(go())


@root
def test_fwmark_is_set_on_the_probe_socket() -> None:
    """In a fresh namespace nftables drops packets carrying mark 7: a probe with fwmark 7 fails, others pass."""
    setup = [["ip", "link", "set", "lo", "up"],
             ["nft", "add table inet t; add chain inet t out { type filter hook output priority 0; };"
                     " add rule inet t out meta mark 7 drop"]]
    assert in_fresh_netns(lambda: _probe_with_mark_in_netns(None), setup)
    assert in_fresh_netns(lambda: _probe_with_mark_in_netns(8), setup)
    assert not in_fresh_netns(lambda: _probe_with_mark_in_netns(7), setup)


def test_ssl_get_presents_the_client_certificate(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path, "rs.example")
    client_cert, client_key = self_signed(tmp_path, "lb.example")
    ctx = server_tls(cert, key)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(client_cert)
    ok = with_server(lambda: http_server(LO, ROUTES, tls=ctx),
                     lambda p: http(p, UrlSpec("/"), tls=TlsSpec(certificate=str(client_cert), key=str(client_key))))
    assert ok.ok
    refused = with_server(lambda: http_server(LO, ROUTES, tls=ctx), lambda p: http(p, UrlSpec("/"), tls=TlsSpec()))
    assert not refused.ok
