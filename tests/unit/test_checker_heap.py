"""The checker process keeps its configuration out of the cyclic collector (``pykeepalived.daemon.heap``): that is
only sound if none of it is ever part of a reference cycle, and a build off the collector must leave it on
again (the reload's worker path: ``test_checker_reload_worker.py``)."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from checkers.core.scheduler import Scheduler
from pykeepalived.config import HostView, Severity, load_config
from pykeepalived.daemon.heap import built_off_collector
from pykeepalived.daemon.lvs import LvsSettings, build_lvs
from vrrp.io.scripts import ScriptUser

HOST = HostView(interfaces=frozenset({"eth0"}), find_executable=lambda c: "/bin/" + c, user_exists=lambda u: True)


def runs_anywhere(argv: Sequence[str], user: ScriptUser | None, security: bool) -> None:
    """The scripts' host of these tests, as HOST: every script exists and may run (none is disabled)."""
    return None

#: every kind of check, a sorry server, a fwmark service and a group: each builds its own objects
CONF = """
track_file tf {
    file /run/weight
    weight 1
}
virtual_server 10.0.0.1 80 {
    delay_loop 6
    lb_algo rr
    lb_kind NAT
    protocol TCP
    sorry_server 10.0.9.9 8080
    real_server 10.0.1.1 80 {
        weight 3
        notify_up "/bin/echo up"
        TCP_CHECK {
            connect_timeout 2
        }
    }
    real_server 10.0.1.2 80 {
        inhibit_on_failure
        HTTP_GET {
            url {
                path /health
                status_code 200-299
            }
            url {
                path /x
                regex "ok"
            }
        }
    }
}
virtual_server fwmark 7 {
    lb_algo rr
    lb_kind NAT
    real_server 10.0.2.1 0 {
        MISC_CHECK {
            misc_path "/bin/check --host 10.0.2.1"
            misc_dynamic
        }
        SMTP_CHECK {
            connect_port 25
        }
    }
}
virtual_server_group web {
    10.0.3.1-3 443
}
virtual_server group web {
    lb_algo wlc
    protocol UDP
    lb_kind DR
    quorum_up "/bin/echo quorum"
    real_server 10.0.4.1 443 {
        DNS_CHECK {
            type A
            name www.example
        }
        UDP_CHECK {
            payload 0102
        }
        FILE_CHECK {
            track_file tf
        }
    }
}
"""


@pytest.fixture
def collector_off() -> Iterator[None]:
    """No automatic collection during the test (it could reclaim a cycle before the test counts it); what a
    collection finds is kept in ``gc.garbage`` for the test to read."""
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if was:
            gc.enable()


def _ours(objs: list[object]) -> list[object]:
    """The objects of this project's own types (a cycle through our data has at least one)."""
    return [o for o in objs if type(o).__module__.split(".")[0] in {"checkers", "ipvs", "pykeepalived", "vrrp"}]


def _settings(tmp_path: Path) -> LvsSettings:
    f = tmp_path / "keepalived.conf"
    f.write_text(CONF)
    res = load_config(str(f), config_id="main", host=HOST)
    assert not [d for d in res.diagnostics if d.severity >= Severity.ERROR], res.diagnostics
    return build_lvs(res.config, refusal=runs_anywhere)


def test_the_configuration_the_settings_the_pool_and_the_check_machines_hold_no_cycle(
        tmp_path: Path, collector_off: None) -> None:
    """Built, run through start and every check's first timer, then dropped: reference counting frees all of it
    (a collection finds none of it unreachable). A cycle here would leak once frozen, at every reload."""
    settings = _settings(tmp_path)
    pool = settings.new_pool()
    pool.start()
    scheduler = Scheduler()
    scheduler.add_all(settings.checks, 0.0)
    scheduler.due(1e6)
    assert len(settings.checks) == 7
    del settings, pool, scheduler
    gc.collect()  # (anything the test runner itself dropped meanwhile may show up too: only ours counts)
    assert not _ours(gc.garbage)


def test_a_build_off_the_collector_freezes_its_result_and_turns_the_collector_back_on() -> None:
    seen: list[bool] = []
    before = gc.get_freeze_count()

    def build() -> list[list[int]]:
        seen.append(gc.isenabled())
        return [[i] for i in range(1000)]

    try:
        out = built_off_collector(build)
        assert seen == [False] and gc.isenabled()
        assert gc.get_freeze_count() >= before + len(out)
        gc.unfreeze()
        with pytest.raises(ValueError):  # a failed build freezes nothing and still restores the collector
            built_off_collector(lambda: int("x"))
        assert gc.isenabled() and gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()
