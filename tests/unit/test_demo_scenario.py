"""The demo's flags become overrides of the shipped master-crash scenario, or are refused with a reason."""

from __future__ import annotations

import pytest

from netns_lab.demo import DemoError, demo_scenario, main
from netns_lab.scenario import load_scenario, shipped_scenario


def test_the_demo_runs_the_shipped_crash_scenario_unchanged_by_default() -> None:
    assert demo_scenario() == load_scenario(shipped_scenario("master-crash"))


def test_version_and_interval_are_written_into_every_router() -> None:
    scenario = demo_scenario(2, 3)
    for r in scenario.routers:
        assert "vrrp_version 2" in r.config and "advert_int 3\n" in r.config
        assert "vrrp_version 3" not in r.config and "advert_int 1\n" not in r.config
    assert demo_scenario(advert_int=0.1).routers[0].config.count("advert_int 0.1") == 1


@pytest.mark.parametrize(
    ("version", "interval", "message"),
    [(2, 0.5, "VRRPv2 needs whole seconds"), (3, 0.015, "steps of 0.01 s"), (None, 50.0, "0.01-40.95")],
)
def test_values_the_scenario_cannot_take_are_refused(version: int | None, interval: float, message: str) -> None:
    with pytest.raises(DemoError, match=message):
        demo_scenario(version, interval)


def test_compare_with_one_implementation_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--compare", "--impl", "pykeepalived"])
    assert info.value.code == 2 and "--compare runs both implementations" in capsys.readouterr().err
    assert main(["--advert-int", "0.5", "--vrrp-version", "2"]) == 1
    assert "VRRPv2 needs whole seconds" in capsys.readouterr().err


def test_a_missing_shipped_scenario_names_where_it_looked() -> None:
    with pytest.raises(FileNotFoundError, match=r"no shipped scenario nope\.yaml \(looked in .*scenarios"):
        shipped_scenario("nope")
