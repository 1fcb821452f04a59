"""Conformance item 53: the virtual MAC the router's Master state announces (vrrp/io/vmac.py)."""

from __future__ import annotations

import socket

import pytest

from vrrp.io.vmac import vmac_address


@pytest.mark.conformance("53", polarity="positive")
@pytest.mark.parametrize(
    ("vrid", "family", "mac"),
    [
        (1, socket.AF_INET, "00:00:5e:00:01:01"),
        (255, socket.AF_INET, "00:00:5e:00:01:ff"),
        (1, socket.AF_INET6, "00:00:5e:00:02:01"),
        (171, socket.AF_INET6, "00:00:5e:00:02:ab"),
    ],
)
def test_53_virtual_mac_is_00_00_5e_00_family_vrid(vrid: int, family: int, mac: str) -> None:
    assert vmac_address(vrid, family) == mac


@pytest.mark.conformance("53", polarity="negative")
@pytest.mark.parametrize("vrid", [0, 256])
def test_53_no_virtual_mac_outside_vrid_1_to_255(vrid: int) -> None:
    with pytest.raises(ValueError, match="VRID"):
        vmac_address(vrid, socket.AF_INET)
