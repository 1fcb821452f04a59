"""Which kernel ``netns-lab run`` uses: the host's unless a scenario needs IPVS the host lacks (then User-Mode
Linux); a host kernel without IPVS is refused for an IPVS scenario with the way out; and where a UML guest sees
the host's files."""

from __future__ import annotations

from pathlib import Path

import pytest

from netns_lab import runner, uml
from netns_lab.runner import RunError
from netns_lab.scenario import load_scenario, parse_scenario
from netns_lab.uml import KernelUnavailable, guest_path, host_path

ROOT = Path(__file__).resolve().parents[2]
LVS = ROOT / "scenarios" / "real-server-outage.yaml"
VRRP = ROOT / "scenarios" / "master-crash.yaml"


@pytest.fixture
def no_host_ipvs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uml, "host_has_ipvs", lambda: False)
    monkeypatch.setattr(uml, "choose_kernel", lambda *a, **k: "uml")


@pytest.mark.usefixtures("no_host_ipvs")
def test_auto_boots_uml_only_for_a_scenario_that_needs_ipvs_the_host_lacks(monkeypatch: pytest.MonkeyPatch) -> None:
    lvs, vrrp = load_scenario(LVS), load_scenario(VRRP)
    assert lvs.needs_ipvs and not vrrp.needs_ipvs
    assert runner._kernel_for(lvs, "auto") == "uml"
    assert runner._kernel_for(vrrp, "auto") == "host"
    assert runner._kernel_for(vrrp, "uml") == "uml"  # a VRRP scenario may run in UML too
    monkeypatch.setattr(uml, "host_has_ipvs", lambda: True)
    assert runner._kernel_for(lvs, "auto") == "host"
    assert runner._kernel_for(lvs, "host") == "host"


@pytest.mark.usefixtures("no_host_ipvs")
def test_host_kernel_without_ipvs_is_refused_with_the_way_out() -> None:
    with pytest.raises(RunError, match=r"needs IPVS .* has none: run it with --kernel uml"):
        runner._kernel_for(load_scenario(LVS), "host")


def test_uml_not_installed_is_a_clear_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(*args: object, **kwargs: object) -> str:
        raise KernelUnavailable("install the Debian package user-mode-linux")

    monkeypatch.setattr(uml, "choose_kernel", missing)
    with pytest.raises(RunError, match="--kernel uml: install the Debian package user-mode-linux"):
        runner._kernel_for(load_scenario(VRRP), "uml")


def test_the_file_can_say_whether_it_needs_ipvs() -> None:
    text = LVS.read_text()
    assert not parse_scenario(text + "ipvs: false\n", LVS).needs_ipvs
    assert parse_scenario(VRRP.read_text() + "ipvs: true\n", VRRP).needs_ipvs
    with pytest.raises(ValueError, match=r":\d+: ipvs: 'yes' is not of type 'boolean'"):
        parse_scenario(text + "ipvs: 'yes'\n", LVS)


def test_a_guest_sees_the_hosts_tmp_moved_aside_and_nothing_under_run() -> None:
    assert guest_path("/tmp/netns_lab/x") == Path("/run/netns-lab-hosttmp/netns_lab/x")
    assert host_path(guest_path("/tmp/netns_lab/x")) == Path("/tmp/netns_lab/x")
    assert guest_path("/var/tmp/y") == Path("/var/tmp/y") == host_path("/var/tmp/y")
    with pytest.raises(ValueError, match="cannot see"):
        guest_path("/run/netns/x")
