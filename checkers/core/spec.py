"""What one health check is: timings, where it connects, and the probe's own options (keepalived's man5 §4).

These are checkers' own small dataclasses; pykeepalived maps its config model onto them, so checkers/ never
imports pykeepalived. Every value is already resolved (inheritance virtual server -> real server -> checker and
each checker type's defaults are the config layer's job).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: keepalived's BOOTSTRAP_DELAY: checkers start one second after the process (lib/scheduler.h)
BOOTSTRAP_DELAY = 1.0
#: the hard timeout of a UDP_CHECK is this much longer than its connect_timeout, because there the end of
#: connect_timeout is a verdict (silence passes without require_reply), not a failure
UDP_GRACE = 0.25


@dataclass(frozen=True)
class Timing:
    """When a check runs and how failures are counted (``delay_loop``, ``retry``, ``delay_before_retry``,
    ``warmup``, ``alpha``). ``warmup`` None means "up to delay_loop" as keepalived's default does."""

    delay_loop: float = 60.0
    connect_timeout: float = 5.0
    retry: int = 1
    delay_before_retry: float = 1.0
    warmup: float | None = None
    alpha: bool = False

    def __post_init__(self) -> None:
        for name in ("delay_loop", "connect_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)}")
        if self.delay_before_retry < 0:
            raise ValueError(f"delay_before_retry must be >= 0, not {self.delay_before_retry}")
        if self.retry < 0:
            raise ValueError(f"retry must be >= 0, not {self.retry}")
        if self.warmup is not None and self.warmup < 0:
            raise ValueError(f"warmup must be >= 0, not {self.warmup}")

    @property
    def warmup_span(self) -> float:
        return self.delay_loop if self.warmup is None else self.warmup


@dataclass(frozen=True)
class Target:
    """Where a probe connects from and to (``connect_ip``/``connect_port``, ``bindto``/``bind_port``/``bind_if``,
    ``fwmark`` as SO_MARK)."""

    ip: str
    port: int = 0
    bindto: str | None = None
    bind_port: int | None = None
    bind_if: str | None = None
    fwmark: int | None = None


@dataclass(frozen=True)
class TcpProbe:
    """TCP_CHECK: a connect that completes within connect_timeout."""


@dataclass(frozen=True)
class UrlSpec:
    """One ``url {}`` block: every given test must pass (status in one of the ranges, MD5 of the body equal to
    ``digest``, ``regex`` found in the body, or not found with ``regex_no_match``)."""

    path: str = "/"
    digest: str | None = None
    status_codes: tuple[tuple[int, int], ...] = ((200, 299),)
    virtualhost: str | None = None
    regex: str | None = None
    regex_no_match: bool = False

    def status_ok(self, code: int) -> bool:
        return any(lo <= code <= hi for lo, hi in self.status_codes)


@dataclass(frozen=True)
class TlsSpec:
    """The client TLS context of SSL_GET (the top-level ``SSL {}`` block plus ``enable_sni``/``sni_name``).

    keepalived verifies the server certificate only when a ``ca`` is given; so do we."""

    ca: str | None = None
    certificate: str | None = None
    key: str | None = None
    password: str | None = None
    enable_sni: bool = False
    sni_name: str | None = None


@dataclass(frozen=True)
class HttpProbe:
    """HTTP_GET / SSL_GET: each url in turn; the check passes when all pass."""

    urls: tuple[UrlSpec, ...] = (UrlSpec(),)
    tls: TlsSpec | None = None
    virtualhost: str | None = None
    http_protocol: str = "1.0"

    def __post_init__(self) -> None:
        if not self.urls:
            raise ValueError("HTTP_GET/SSL_GET needs at least one url block")
        if self.http_protocol.upper() not in ("1.0", "1.0C", "1.1"):
            raise ValueError(f"http_protocol must be 1.0, 1.0C or 1.1, not {self.http_protocol!r}")


@dataclass(frozen=True)
class SmtpProbe:
    """SMTP_CHECK: banner 220, ``HELO helo_name`` answered 250, ``QUIT``."""

    helo_name: str = "localhost"


@dataclass(frozen=True)
class DnsProbe:
    """DNS_CHECK: one UDP query of ``qtype`` for ``name``; any answer with RCODE NOERROR passes."""

    qtype: str = "SOA"
    name: str = "."


@dataclass(frozen=True)
class MiscProbe:
    """MISC_CHECK: run ``argv`` (never through a shell) as ``user``/``group`` (uid/gid or names; None: as we
    run); exit 0 passes, 1 fails, and with ``dynamic`` 2..255 passes and sets the weight to code - 2.
    ``timeout`` None means delay_loop, as keepalived."""

    argv: tuple[str, ...]
    timeout: float | None = None
    dynamic: bool = False
    user: int | str | None = None
    group: int | str | None = None

    def __post_init__(self) -> None:
        if not self.argv:
            raise ValueError("MISC_CHECK needs misc_path")


@dataclass(frozen=True)
class UdpProbe:
    """UDP_CHECK: send ``payload``; fail on ICMP unreachable. With ``require_reply`` a reply must arrive, of
    ``min_len``..``max_len`` octets, matching ``reply`` where ``reply_mask`` bits are 0 (X nibbles are 1)."""

    payload: bytes = b""
    require_reply: bool = False
    reply: bytes = b""
    reply_mask: bytes = b""
    min_len: int = 0
    max_len: int = 255


@dataclass(frozen=True)
class PingProbe:
    """PING_CHECK: one ICMP or ICMPv6 echo answered within connect_timeout."""


@dataclass(frozen=True)
class FileProbe:
    """FILE_CHECK: the integer in ``path`` times ``weight`` (negated with ``reverse``) is added to the real
    server's weight; with weight 0 any non-zero value, or a product at or below INT32_MIN, is a failure."""

    path: str
    weight: int = 1
    reverse: bool = False


ProbeSpec = TcpProbe | HttpProbe | SmtpProbe | DnsProbe | MiscProbe | UdpProbe | PingProbe | FileProbe


@dataclass(frozen=True)
class CheckSpec:
    """One health check of one real server. ``key`` is the caller's name for it (unique in a scheduler);
    ``name`` is keepalived's text for the server in log lines (``[192.0.2.1]:tcp:80``)."""

    key: str
    kind: str
    target: Target
    probe: ProbeSpec = field(default_factory=TcpProbe)
    timing: Timing = field(default_factory=Timing)
    name: str = ""
    log_all_failures: bool = False

    @property
    def probe_timeout(self) -> float:
        """The hard limit of one probe: misc_timeout (delay_loop by default) for MISC_CHECK; for network probes
        connect_timeout per step keepalived times separately (per url for HTTP; connect+banner, HELO and QUIT
        for SMTP), and once for the rest."""
        if isinstance(self.probe, MiscProbe):
            return self.probe.timeout if self.probe.timeout is not None else self.timing.delay_loop
        if isinstance(self.probe, HttpProbe):
            return self.timing.connect_timeout * len(self.probe.urls)
        if isinstance(self.probe, SmtpProbe):
            return self.timing.connect_timeout * 3
        if isinstance(self.probe, UdpProbe):
            return self.timing.connect_timeout + UDP_GRACE
        return self.timing.connect_timeout


@dataclass(frozen=True)
class ProbeResult:
    """What one probe found: pass/fail, why (for the log), and a dynamic weight when the probe sets one:
    ``weight`` replaces the configured weight (MISC_CHECK misc_dynamic), ``weight_offset`` is added to it
    (FILE_CHECK, as track_file weights are)."""

    ok: bool
    reason: str = ""
    weight: int | None = None
    weight_offset: int = 0
