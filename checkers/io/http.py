"""HTTP_GET / SSL_GET (keepalived's check_http.c) through httpx: every ``url`` block in turn, each must answer
with a status in its ranges, an MD5 of the body equal to ``digest`` (what ``genhash`` prints) and a body matching
``regex`` (or not matching it, with ``regex_no_match``).

The request goes to connect_ip:connect_port with ``Host: virtualhost`` when one is set (url, then checker), the
User-Agent keepalived sends, and ``Connection: close``. httpx speaks HTTP/1.1 only: ``http_protocol 1.0`` and
``1.0C`` requests therefore go out as 1.1 with ``Connection: close``, which every HTTP/1.0 server answers the same.
SSL_GET verifies the server certificate chain (not its name) only when the ``SSL`` block names a ``ca``
(keepalived's behaviour);
``enable_sni`` sends ``sni_name``, else the virtualhost, in the handshake. ``bind_port`` cannot be honoured by
httpx and is refused when the spec is built.
"""

from __future__ import annotations

import hashlib
import re
import socket
import ssl
from dataclasses import dataclass
from functools import lru_cache

import httpx

from checkers.core.spec import HttpProbe, ProbeResult, Target, TlsSpec, UrlSpec
from checkers.io.sockets import family_of, socket_options

USER_AGENT = "KeepAliveClient"


@dataclass(frozen=True)
class Fetched:
    """One response as the checker judges it: status, MD5 of the body (hex), and the body itself."""

    status: int
    digest: str
    body: bytes


@lru_cache(maxsize=64)
def tls_context(tls: TlsSpec) -> ssl.SSLContext:
    """One client context per TLS settings (building one per probe would cost more than the probe)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False  # OpenSSL's default, and keepalived's: the chain is checked, not the name
    if tls.ca:
        ctx.load_verify_locations(tls.ca)
    else:
        ctx.verify_mode = ssl.CERT_NONE
    if tls.certificate:
        ctx.load_cert_chain(tls.certificate, tls.key, tls.password)
    return ctx


def check_target(target: Target) -> None:
    """Refuse what httpx cannot do rather than ignore it."""
    if target.bind_port:
        raise ValueError("HTTP_GET/SSL_GET: bind_port is not supported (httpx binds the source address only)")


def url_for(target: Target, path: str, use_tls: bool) -> str:
    host = f"[{target.ip}]" if family_of(target.ip) == socket.AF_INET6 else target.ip
    if not path.startswith("/"):
        path = "/" + path
    return f"{'https' if use_tls else 'http'}://{host}:{target.port}{path}"


def make_client(target: Target, tls: TlsSpec | None, timeout: float) -> httpx.AsyncClient:
    """A client for one probe: its own connection, opened and closed as keepalived's. One client per probe,
    not one shared: httpcore's pool assigns requests in O(n) per event, quadratic under thousands of probes;
    a client is cheap once its TLS context is cached (plain HTTP gets the cached no-TLS one too)."""
    check_target(target)
    transport = httpx.AsyncHTTPTransport(
        verify=tls_context(tls if tls is not None else TlsSpec()),
        local_address=target.bindto,
        socket_options=socket_options(target) or None,
        retries=0,
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=0),
    )
    return httpx.AsyncClient(transport=transport, timeout=timeout, follow_redirects=False, trust_env=False)


async def fetch(client: httpx.AsyncClient, target: Target, path: str, *, tls: TlsSpec | None,
                virtualhost: str | None, timeout: float) -> Fetched:
    headers = {"User-Agent": USER_AGENT, "Connection": "close"}
    if virtualhost:
        headers["Host"] = virtualhost
    extensions: dict[str, str] = {}
    if tls is not None and tls.enable_sni and (tls.sni_name or virtualhost):
        extensions["sni_hostname"] = tls.sni_name or virtualhost or ""
    request = client.build_request("GET", url_for(target, path, tls is not None), headers=headers,
                                   extensions=extensions, timeout=timeout)
    for name in ("Accept", "Accept-Encoding"):  # keepalived sends neither: a gzip answer would change the digest
        del request.headers[name]
    md5 = hashlib.md5(usedforsecurity=False)
    body = bytearray()
    response = await client.send(request, stream=True)
    try:
        async for chunk in response.aiter_raw():
            md5.update(chunk)
            body.extend(chunk)
    finally:
        await response.aclose()
    return Fetched(response.status_code, md5.hexdigest(), bytes(body))


def judge(url: UrlSpec, got: Fetched) -> str | None:
    """Why this response fails the url block (keepalived's words), or None when it passes."""
    if not url.status_ok(got.status):
        return "HTTP status code error to"
    if url.digest is not None and url.digest.lower() != got.digest:
        return "MD5 digest error to"
    if url.regex is not None:
        found = re.search(url.regex.encode(), got.body) is not None
        if found == url.regex_no_match:
            return "Regex match failed to" if not url.regex_no_match else "Regex no match failed to"
    return None


async def probe_http(target: Target, probe: HttpProbe, timeout: float) -> ProbeResult:
    async with make_client(target, probe.tls, timeout) as client:
        for url in probe.urls:
            try:
                got = await fetch(client, target, url.path, tls=probe.tls,
                                  virtualhost=url.virtualhost or probe.virtualhost, timeout=timeout)
            except httpx.TimeoutException:
                return ProbeResult(False, "Timeout connecting")
            except (httpx.HTTPError, OSError, ssl.SSLError) as exc:
                return ProbeResult(False, f"HTTP request failed ({type(exc).__name__}) to")
            why = judge(url, got)
            if why is not None:
                return ProbeResult(False, f"{why} {url.path} of")
    return ProbeResult(True)
