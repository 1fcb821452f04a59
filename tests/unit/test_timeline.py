"""The timeline picture draws any history (here the simulator's): PNG and SVG, every lane and fault named."""

from __future__ import annotations

from pathlib import Path

from netns_lab.history import ClientRequest, ClientVipView, History
from netns_lab.sim import Simulation
from netns_lab.timeline import Run, draw, draw_compare

S = 1_000_000


def _simulated(kill_at: float) -> History:
    sim = Simulation(seed=1)
    sim.add_router("lb1", priority=200, address="10.0.0.11", version=3)
    sim.add_router("lb2", priority=100, address="10.0.0.12", version=3)
    sim.start()
    for step in range(200):
        t = step / 10
        sim.run_until_us(round(t * S))
        if step == round(kill_at * 10):
            sim.crash("lb1")
        if step == 120:
            sim.partition(["lb1"])
        if step == 160:
            sim.heal()
        holders = [n for n in sim.vip_holders() if sim.nodes[n].alive]
        ok = len(holders) == 1
        sim.history.requests.append(
            ClientRequest(sim.now, sim.now + 500, "client", "10.0.0.100:7", ok, holders[0] if ok else None)
        )
    return sim.history


def test_draws_png_and_svg_with_every_lane_and_fault(tmp_path: Path) -> None:
    png, svg = draw(Run("master-crash (simulated)", _simulated(6), 20 * S), tmp_path / "run")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    text = svg.read_text()
    for needle in (
        "master-crash (simulated)",
        "lb1",
        "lb2",
        "VIP",
        "clients",
        "crash lb1",
        "partition lb2",
        "request failed",
        "time (s)",
    ):
        assert needle in text, needle


def test_compare_draws_both_runs(tmp_path: Path) -> None:
    png, svg = draw_compare(Run("keepalived", _simulated(6)), Run("pykeepalived", _simulated(7)), tmp_path / "c.png")
    assert png.name == "c.png" and svg.name == "c.svg"
    text = svg.read_text()
    assert "keepalived" in text and "pykeepalived" in text


def test_an_empty_history_still_draws(tmp_path: Path) -> None:
    png, _svg = draw(Run("nothing happened", History()), tmp_path / "empty")
    assert png.stat().st_size > 1000


def test_the_clients_arp_entry_is_drawn_under_the_vip_lane(tmp_path: Path) -> None:
    h = _simulated(6)
    h.client_views += [
        ClientVipView(1 * S, "client", "10.0.0.100", ("lb1",), "lb1"),
        ClientVipView(10 * S, "client", "10.0.0.100", ("lb2",), "lb2"),
    ]
    _png, svg = draw(Run("with the client's view", h, 20 * S), tmp_path / "arp")
    assert "client's ARP entry" in svg.read_text()


def test_a_load_balancer_run_draws_one_lane_per_real_server_in_or_out_of_ipvs(tmp_path: Path) -> None:
    from netns_lab.history import FaultEvent, IpvsDest, IpvsSample
    from netns_lab.timeline import _ipvs_segments

    svc = "TCP 10.0.0.100:80"

    def table(t: float, node: str, *live: str) -> IpvsSample:
        return IpvsSample(round(t * 1e6), node, (svc,), tuple(IpvsDest(svc, f"{h}:80", 1, h) for h in live))

    h = History(ipvs=[table(0, "lb1", "rs1", "rs2"), table(0, "lb2", "rs1", "rs2"), table(3, "lb1", "rs2"),
                      table(4, "lb2", "rs2")])  # fmt: skip
    assert _ipvs_segments(h, "rs1", 10_000_000) == [(0, 3_000_000, "in"), (3_000_000, 4_000_000, "mixed"),
                                                     (4_000_000, 10_000_000, "out")]  # fmt: skip
    h.faults.append(FaultEvent(1_000_000, "crash", "lb2"))  # a dead director's frozen table does not count
    assert _ipvs_segments(h, "rs1", 10_000_000) == [(0, 3_000_000, "in"), (3_000_000, 10_000_000, "out")]
    png, svg = draw(Run("lvs", h, 10_000_000), tmp_path / "lvs")
    text = svg.read_text()
    assert png.stat().st_size > 5_000 and ">rs1<" in text and "real server out of IPVS" in text
