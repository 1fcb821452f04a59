"""keepalived.conf parse + validate at keepalived's reload-scale example: 2,277 virtual servers, 37,205 real servers.

Release-2.3.0 notes quote this size (one TCP_CHECK per real server). Anchor: ``keepalived -t -f FILE`` (Debian's
2.2.7) on the same generated file. Two views of ours:
- ``config_parse_2277vs``: ``pykeepalived.config.load_config`` in-process (preprocess, parse, build, validate);
- ``config_test_cli_2277vs``: ``pykeepalived -t -f FILE`` as a process, interpreter start-up included, which is
  what a user or a reload hook sees (with our bytecode cached, as in an installed package: see _cli_env);
- ``config_test_cli_50mb``: the same at 11 times the size (25,047 VS / 409,255 RS, 51 MB), the scale at which
  memory must follow the configuration's content (issue 13); peak RSS is in bench/RESULTS.md.

Both sides read the same file, already in the page cache after the warm-up run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.registry import register

N_VS = 2277
N_RS = 37205
_state: dict[str, Path] = {}


def generate_config(n_vs: int = N_VS, n_rs: int = N_RS, delay_loop: int = 10) -> str:
    """A config keepalived accepts with exit 0: every VS with scheduler, method and protocol set."""
    out = ["global_defs {\n    router_id bench\n}\n"]
    base, extra = divmod(n_rs, n_vs)
    for v in range(n_vs):
        a, b = divmod(v, 250)
        out.append(f"virtual_server 10.{a}.{b}.1 80 {{\n    delay_loop {delay_loop}\n    lb_algo rr\n    lb_kind NAT\n"
                   "    protocol TCP\n")
        for r in range(base + (1 if v < extra else 0)):
            out.append(f"    real_server 172.16.{v % 250}.{r + 1} 8080 {{\n        weight 1\n"
                       "        TCP_CHECK {\n            connect_timeout 3\n        }\n    }\n")
        out.append("}\n")
    return "".join(out)


def _setup(scale: int = 1) -> None:
    d = Path(tempfile.mkdtemp(prefix="pyka-bench-config-"))
    f = d / "keepalived.conf"
    f.write_text(generate_config(N_VS * scale, N_RS * scale))
    _state["dir"], _state["file"] = d, f


def _teardown() -> None:
    d = _state.pop("dir", None)
    _state.pop("file", None)
    if d is not None:
        shutil.rmtree(d, ignore_errors=True)


def _keepalived_t() -> None:
    p = subprocess.run(["keepalived", "-t", "-l", "-f", str(_state["file"])], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"keepalived -t exit {p.returncode}: {p.stdout}{p.stderr}")


def _ours_in_process() -> None:
    from pykeepalived.config import load_config

    r = load_config(str(_state["file"]))
    if r.exit_status != 0 or sum(len(v.real_servers) for v in r.config.virtual_servers) != N_RS:
        raise RuntimeError(f"unexpected result: exit {r.exit_status}, {r.diagnostics[:3]}")


def _cli_env() -> dict[str, str]:
    """Our process's environment: bytecode cached in the benchmark's temp dir.

    An installed pykeepalived has its ``.pyc`` files (pip compiles them at install time). This work
    tree may run with PYTHONDONTWRITEBYTECODE=1, which would make every run recompile our modules
    (~20 ms) - a cost no user pays, as keepalived's anchor is a compiled binary. The warm-up run fills
    the cache; it lives under the temp dir, so the work tree is not touched and teardown removes it.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(_state["dir"] / "pycache")
    return env


def _setup_50mb() -> None:
    _setup(11)


def _ours_cli() -> None:
    p = subprocess.run([sys.executable, "-m", "pykeepalived.cli", "-t", "-f", str(_state["file"])],
                       capture_output=True, text=True, env=_cli_env())
    if p.returncode != 0:
        raise RuntimeError(f"pykeepalived -t exit {p.returncode}: {p.stderr[:500]}")


# Both rows parse the same generated file against the same anchor; only our side differs.
_COMMON: dict[str, Any] = dict(
    anchor=_keepalived_t,
    anchor_label="keepalived -t",
    runs=5,
    warmup=1,
    needs_tools=("keepalived",),
    setup=_setup,
    teardown=_teardown,
)
register(
    "config_parse_2277vs",
    ours=_ours_in_process,
    description="parse + validate 2,277 VS / 37,205 RS (in-process load_config vs keepalived -t)",
    ours_label="pykeepalived.config.load_config",
    **_COMMON,
)
register(
    "config_test_cli_2277vs",
    ours=_ours_cli,
    description="config test of 2,277 VS / 37,205 RS as processes (pykeepalived -t vs keepalived -t)",
    ours_label="pykeepalived -t",
    **_COMMON,
)
register(
    "config_test_cli_50mb",
    ours=_ours_cli,
    description="config test of a 51 MB config, 25,047 VS / 409,255 RS (pykeepalived -t vs keepalived -t)",
    ours_label="pykeepalived -t",
    **{**_COMMON, "setup": _setup_50mb, "runs": 3},
)
