"""Conformance of the router's configuration checks: item 21 (RFC 9568 §5.2.9, erratum 8300) as keepalived 2.2.7
enforces it — an IPv6 multicast instance's first VIP must be link-local: refused in strict mode
(``vrrp_strict`` / ``strict_mode``), reported otherwise (tests/unit/test_config_grammar.py shows the report at
file:line).  Unicast instances are not checked, as in keepalived."""

from __future__ import annotations

from ipaddress import IPv6Address

import pytest

from tests.router_kit import config
from vrrp.core.actions import SendAdvertisement
from vrrp.core.config import RouterConfigError, first_vip_not_link_local
from vrrp.core.packet import MULTICAST_V6, encode
from vrrp.core.router import VirtualRouter

ME6 = IPv6Address("fe80::2")
LL = IPv6Address("fe80::100")
GLOBAL = IPv6Address("2001:db8::100")


@pytest.mark.conformance("21", polarity="positive")
def test_21_strict_instance_with_link_local_first_sends_it_first() -> None:
    cfg = config(primary_address=ME6, virtual_ipaddress=(LL, GLOBAL), strict_mode=True)
    r = VirtualRouter(cfg)
    r.start(0)
    sent = r.handle_timer(r.get_timer() or 0)
    advert = next(a for a in sent if isinstance(a, SendAdvertisement))
    wire = encode(advert.advertisement(), family=6, src=ME6, dst=MULTICAST_V6)
    assert IPv6Address(wire[8:24]) == LL  # the first address on the wire is the link-local one
    assert not first_vip_not_link_local(cfg.virtual_ipaddress, unicast=False)


@pytest.mark.conformance("21", polarity="negative")
def test_21_strict_instance_with_a_global_address_first_is_refused() -> None:
    with pytest.raises(RouterConfigError) as err:
        config(primary_address=ME6, virtual_ipaddress=(GLOBAL, LL), strict_mode=True)
    assert err.value.field == "virtual_ipaddress"
    assert str(err.value) == (
        "virtual_ipaddress: the first IPv6 VIP address must be link local (RFC 9568 §5.2.9, strict mode), "
        "not 2001:db8::100"
    )


def test_rule_21_exempts_unicast_and_non_strict_like_keepalived() -> None:
    # keepalived only logs outside strict mode and never checks unicast instances
    assert first_vip_not_link_local((GLOBAL,), unicast=False)
    assert not first_vip_not_link_local((GLOBAL,), unicast=True)
    config(primary_address=ME6, virtual_ipaddress=(GLOBAL,))
    config(primary_address=ME6, virtual_ipaddress=(GLOBAL,), strict_mode=True, unicast_peer=(IPv6Address("fe80::9"),))
