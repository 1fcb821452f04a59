"""Stateful property test of sync groups: directors with an outside and an inside instance each, grouped.

Every node runs VI_1 on segment "ext" and VI_2 on segment "int" in one ``vrrp_sync_group`` with the same
priority on both (keepalived's advice: inconsistent priorities inside a group can flap).  Hypothesis crashes,
stops, restarts, pauses and re-prioritises nodes, fails one instance's tracked link (FAULT), partitions one
segment silently, and lets time pass.  Invariants:

* VIPs are installed exactly on the instances in MASTER (always);
* after healing and settling: each VRID has exactly one Master among the nodes not in FAULT, it is the same
  node for both VRIDs (the group moved together), and a node's two instances are never split
  (one MASTER, one BACKUP).
"""

from __future__ import annotations

import os
from ipaddress import IPv4Address

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from netns_lab.sim import Simulation
from vrrp.core.config import RouterConfig
from vrrp.core.state import State
from vrrp.core.tracking import Tracker

MAX_NODES = 3
EXAMPLES = int(os.environ.get("ROUTER_SYNC_EXAMPLES", "300"))


class SyncCluster(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.sim = Simulation(0)
        self.names: list[str] = []

    @initialize(
        seed=st.integers(0, 2**32 - 1),
        prios=st.lists(st.integers(1, 254), min_size=2, max_size=MAX_NODES),
        preempt=st.booleans(),
        adv_cs=st.sampled_from([10, 100]),
    )
    def boot(self, seed: int, prios: list[int], preempt: bool, adv_cs: int) -> None:
        self.sim = Simulation(seed)
        for i, p in enumerate(prios):
            name = f"d{i}"
            self.names.append(name)
            cfgs = [
                RouterConfig(
                    vrid=v,
                    name=f"VI_{v}",
                    priority=p,
                    primary_address=IPv4Address(f"10.0.{v}.{i + 1}"),
                    virtual_ipaddress=(IPv4Address(f"10.0.{v}.100"),),
                    advert_int_cs=adv_cs,
                    preempt=preempt,
                    trackers=(Tracker(f"eth{v}"),),
                )
                for v in (1, 2)
            ]
            self.sim.add_node(name, cfgs, segments=["ext", "int"], sync_group=["VI_1", "VI_2"])
        self.sim.start()

    def node(self, i: int) -> str:
        return self.names[i % len(self.names)]

    @rule(i=st.integers(0, MAX_NODES - 1))
    def crash(self, i: int) -> None:
        self.sim.crash(self.node(i))

    @rule(i=st.integers(0, MAX_NODES - 1))
    def stop(self, i: int) -> None:
        self.sim.stop(self.node(i))

    @rule(i=st.integers(0, MAX_NODES - 1))
    def restart(self, i: int) -> None:
        self.sim.restart(self.node(i))

    @rule(i=st.integers(0, MAX_NODES - 1), us=st.integers(1_000, 8_000_000))
    def pause(self, i: int, us: int) -> None:
        self.sim.pause_us(self.node(i), us)

    @rule(i=st.integers(0, MAX_NODES - 1), p=st.integers(1, 254))
    def set_priority(self, i: int, p: int) -> None:
        self.sim.set_priority(self.node(i), p)  # both instances: the group stays consistent

    @rule(i=st.integers(0, MAX_NODES - 1), vrid=st.sampled_from([1, 2]), up=st.booleans())
    def link(self, i: int, vrid: int, up: bool) -> None:
        # a paused or stopped node sees it when it runs again
        self.sim.set_tracker(self.node(i), f"eth{vrid}", up, instance=f"VI_{vrid}")

    @rule(i=st.integers(0, MAX_NODES - 1), segment=st.sampled_from(["ext", "int"]))
    def partition(self, i: int, segment: str) -> None:
        self.sim.partition([self.node(i)], segment=segment)

    @rule(dt=st.integers(1, 3_000_000))
    def time_passes(self, dt: int) -> None:
        self.sim.run_for_us(dt)

    @rule()
    def settle_and_check(self) -> None:
        self.sim.settle()
        self.sim.settle()  # a member waiting for its group can add one more Master_Down_Interval
        up = [
            n
            for n in self.names
            if self.sim.nodes[n].alive and State.FAULT not in (self.sim.state(n, "VI_1"), self.sim.state(n, "VI_2"))
        ]
        m1, m2 = self.sim.masters(vrid=1), self.sim.masters(vrid=2)
        if up:
            assert len(m1) == 1 and m1 == m2, f"masters VI_1 {m1} VI_2 {m2} among {up}"
        else:
            assert m1 == m2 == []
        for n in self.names:
            if self.sim.nodes[n].alive:
                states = {self.sim.state(n, "VI_1"), self.sim.state(n, "VI_2")}
                assert states != {State.MASTER, State.BACKUP}, f"{n}'s group is split: {states}"

    @invariant()
    def vips_only_on_masters(self) -> None:
        for name, node in self.sim.nodes.items():
            for inst_name, inst in node.instances.items():
                held = inst_name in node.vips
                assert held == (node.alive and inst.router.state is State.MASTER), f"{name}/{inst_name}"


TestSyncCluster = SyncCluster.TestCase
TestSyncCluster.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=25,
    deadline=None,
    derandomize=os.environ.get("ROUTER_SIM_RANDOM", "") == "",
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
