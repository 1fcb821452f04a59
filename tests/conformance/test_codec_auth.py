"""Conformance of VRRPv2 authentication handling: v2-auth (RFC 3768 §5.3.6, §7.1) and keepalived's PASS.

The codec rejects Auth Types nobody defines (AUTH_TYPE); ``check_v2_auth`` is the router-side comparison with
the configured method (AUTH_TYPE_MISMATCH / AUTH), kept next to the codec so every implementation uses one.
"""

from __future__ import annotations

import socket

import pytest
from codec_vectors import KEEPALIVED_V2_PASS, KEEPALIVED_V2_SRC, V4_DST, V4_SRC, build

from vrrp.core.packet import AUTH_NONE, AUTH_PASS, PacketError, Reason, check_v2_auth, decode, pass_auth_data

V4 = socket.AF_INET


def _v2(auth_type: int, auth_data: bytes = bytes(8)) -> bytes:
    return build(version=2, interval=1, auth_type=auth_type, auth_data=auth_data)


@pytest.mark.conformance("v2-auth", polarity="positive")
@pytest.mark.parametrize("auth_type", [0, 1, 2])
def test_v2_auth_known_types_decode(auth_type: int) -> None:
    assert decode(_v2(auth_type), family=V4, src=V4_SRC, dst=V4_DST).auth_type == auth_type


@pytest.mark.conformance("v2-auth", polarity="positive")
def test_v2_auth_matching_method_passes() -> None:
    none = decode(_v2(AUTH_NONE, b"junkjunk"), family=V4, src=V4_SRC, dst=V4_DST)
    check_v2_auth(none, auth_type=AUTH_NONE, auth_data=b"")  # auth data ignored without auth
    adv = decode(KEEPALIVED_V2_PASS, family=V4, src=KEEPALIVED_V2_SRC, dst=V4_DST)
    check_v2_auth(adv, auth_type=AUTH_PASS, auth_data=b"secret12")


@pytest.mark.conformance("v2-auth", polarity="negative")
@pytest.mark.parametrize("auth_type", [3, 4, 128, 255])
def test_v2_auth_unknown_type_is_discarded(auth_type: int) -> None:
    with pytest.raises(PacketError) as err:
        decode(_v2(auth_type), family=V4, src=V4_SRC, dst=V4_DST)
    assert err.value.reason is Reason.AUTH_TYPE


@pytest.mark.conformance("v2-auth", polarity="negative")
@pytest.mark.parametrize(("sent", "configured"), [(AUTH_NONE, AUTH_PASS), (AUTH_PASS, AUTH_NONE)])
def test_v2_auth_type_not_matching_local_method_is_discarded(sent: int, configured: int) -> None:
    adv = decode(_v2(sent, pass_auth_data("secret12")), family=V4, src=V4_SRC, dst=V4_DST)
    with pytest.raises(PacketError) as err:
        check_v2_auth(adv, auth_type=configured, auth_data=b"secret12")
    assert err.value.reason is Reason.AUTH_TYPE_MISMATCH


@pytest.mark.conformance("v2-pass", polarity="positive")
def test_v2_pass_uses_first_8_bytes_zero_padded_like_keepalived() -> None:
    assert pass_auth_data("secret12-and-more") == b"secret12"
    assert pass_auth_data("abc") == b"abc\0\0\0\0\0"
    adv = decode(KEEPALIVED_V2_PASS, family=V4, src=KEEPALIVED_V2_SRC, dst=V4_DST)
    assert adv.auth_data == b"secret12"
    check_v2_auth(adv, auth_type=AUTH_PASS, auth_data=b"secret12-ignored-tail")  # keepalived uses 8 chars


@pytest.mark.conformance("v2-pass", polarity="negative")
@pytest.mark.parametrize("password", [b"secret13", b"secret1", b"SECRET12", b""])
def test_v2_pass_wrong_password_is_discarded(password: bytes) -> None:
    adv = decode(KEEPALIVED_V2_PASS, family=V4, src=KEEPALIVED_V2_SRC, dst=V4_DST)
    with pytest.raises(PacketError) as err:
        check_v2_auth(adv, auth_type=AUTH_PASS, auth_data=password)
    assert err.value.reason is Reason.AUTH
