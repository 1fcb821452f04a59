"""Value converters for keyword arguments. Each raises ConfigError saying what was expected."""

from __future__ import annotations

import ipaddress
import math
import socket

from .errors import ConfigError

BOOL_WORDS = {"on": True, "true": True, "yes": True, "off": False, "false": False, "no": False}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def need(args: list[str], n: int, what: str) -> None:
    if len(args) < n:
        raise ConfigError(f"missing value: expected {what}")


MAX_NUMBER_CHARS = 64  # longer than any number a keyword takes; int() of thousands of digits raises (or is slow)


def shown(text: str, keep: int = 40) -> str:
    """``text`` quoted for a message, its head only when long: a 5,000-digit number is not echoed whole."""
    return repr(text) if len(text) <= keep else f"{text[:keep]!r}... ({len(text)} characters)"


def to_int(text: str, lo: int, hi: int, what: str = "number") -> int:
    """Integer in [lo, hi] (decimal, or 0x hex as keepalived's strtol base 0 allows)."""
    if len(text) > MAX_NUMBER_CHARS:
        raise ConfigError(f"invalid {what} {shown(text)}: expected an integer in [{lo}, {hi}]")
    try:
        v = int(text, 10)
    except ValueError:
        try:
            v = int(text, 0)
        except ValueError:
            raise ConfigError(f"invalid {what} {text!r}: expected an integer in [{lo}, {hi}]") from None
    if not lo <= v <= hi:
        raise ConfigError(f"{what} {text!r} outside range [{lo}, {hi}]")
    return v


def to_float(text: str, lo: float, hi: float, what: str = "value") -> float:
    """Seconds (``<TIMER>``), fractional allowed, micro-second resolution."""
    try:
        if len(text) > MAX_NUMBER_CHARS:
            raise ValueError(text)
        v = float(text)
    except ValueError:
        raise ConfigError(f"invalid {what} {shown(text)}: expected a number of seconds in [{lo:g}, {hi:g}]") from None
    if math.isnan(v) or not lo <= v <= hi:
        raise ConfigError(f"{what} {text!r} outside range [{lo:g}, {hi:g}]")
    return round(v, 6)


def to_bool(args: list[str], what: str) -> bool:
    """``<BOOL>``: a bare keyword means true."""
    if not args:
        return True
    v = BOOL_WORDS.get(args[0].lower())
    if v is None:
        raise ConfigError(f"invalid {what} value {args[0]!r}: expected one of on|off|true|false|yes|no")
    return v


def to_ip(text: str, what: str = "IP address") -> IPAddress:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise ConfigError(f"invalid {what} {shown(text)}: expected an IPv4 or IPv6 address") from None


def ip_text(text: str, what: str = "IP address") -> tuple[str, int]:
    """Canonical text and version (4/6) of an address; inet_pton first because it is 10x faster."""
    try:
        socket.inet_pton(socket.AF_INET, text)
        return text, 4
    except (OSError, ValueError):  # ValueError: a NUL byte in the text
        ip = to_ip(text, what)
        return str(ip), ip.version


def to_ip_prefix(text: str, what: str = "IP address") -> tuple[IPAddress, int]:
    """``IP[/len]``; the default prefix is the full address length (as ``ip addr add``)."""
    addr, _, plen = text.partition("/")
    ip = to_ip(addr, what)
    if not plen:
        return ip, ip.max_prefixlen
    return ip, to_int(plen, 0, ip.max_prefixlen, f"prefix length of {text!r}")


def to_port(text: str) -> int:
    return to_int(text, 0, 65535, "port")


def to_choice(text: str, choices: dict[str, str], what: str) -> str:
    v = choices.get(text) or choices.get(text.lower()) or choices.get(text.upper())
    if v is None:
        raise ConfigError(f"invalid {what} {text!r}: expected one of {'|'.join(sorted(set(choices.values())))}")
    return v


def weight_reverse(args: list[str], lo: int, hi: int) -> tuple[int, bool]:
    """``weight N [reverse]``."""
    need(args, 1, f"a weight in [{lo}, {hi}]")
    w = to_int(args[0], lo, hi, "weight")
    rev = len(args) > 1 and args[1] == "reverse"
    if len(args) > 1 and args[1] not in ("reverse", "noreverse"):
        raise ConfigError(f"invalid weight option {args[1]!r}: expected 'reverse'")
    return w, rev
