"""The tier gate itself: a missing need names what to install."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location("tiers_conftest", Path(__file__).parents[1] / "conftest.py")
assert _spec is not None and _spec.loader is not None
conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(conftest)


def test_keepalived_need_names_the_package(monkeypatch):
    monkeypatch.setattr(conftest.shutil, "which", lambda name: None)
    monkeypatch.setattr(conftest.Path, "exists", lambda self: False)
    why = conftest._missing("keepalived")
    assert why is not None and "apt-get install keepalived" in why


def test_ipvs_need_names_user_mode_linux(monkeypatch):
    monkeypatch.setattr(conftest.shutil, "which", lambda name: None)
    monkeypatch.setattr(conftest.Path, "exists", lambda self: False)
    why = conftest._missing("ipvs")
    assert why is not None and "user-mode-linux" in why
