"""The golden vectors are still what keepalived 2.2.7 sends: re-captured in a lab host, the IPv4 messages equal
codec_vectors.py byte for byte (the IPv6 one differs only in the checksum, its link-local source is random);
every advert leaves with TTL / Hop Limit 255 (RFC 9568 §5.1.1.3, §5.1.2.3)."""

from __future__ import annotations

import pytest
from codec_vectors import KEEPALIVED_V2_PASS, KEEPALIVED_V3_V4, KEEPALIVED_V3_V4_3ADDR, KEEPALIVED_V3_V6

from netns_lab.keepalived_vectors import capture_vectors

pytestmark = [pytest.mark.interop, pytest.mark.lab]


def test_keepalived_still_sends_the_golden_vectors() -> None:
    got = {int(str(r["vrid"])): r for r in capture_vectors()}
    assert [bytes.fromhex(str(got[v]["msg"])) for v in (51, 52, 53)] == [
        KEEPALIVED_V2_PASS, KEEPALIVED_V3_V4, KEEPALIVED_V3_V4_3ADDR]
    assert {str(r["src"]) for v, r in got.items() if v != 54} == {"192.0.2.1"}
    v6 = bytes.fromhex(str(got[54]["msg"]))
    assert v6[:6] + v6[8:] == KEEPALIVED_V3_V6[:6] + KEEPALIVED_V3_V6[8:]  # all but the checksum
    assert str(got[54]["src"]).startswith("fe80::")
    assert {r["ttl"] for r in got.values()} == {255}
