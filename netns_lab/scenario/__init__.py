"""Scenario files (YAML): model, schema and loader. See :mod:`netns_lab.scenario.model`."""

from netns_lab.scenario.model import (
    SELECTORS,
    Expectation,
    Fault,
    KnownFailure,
    Problem,
    RandomFaults,
    Router,
    Scenario,
    ScenarioError,
    Server,
    Workload,
    load_scenario,
    parse_fault,
    parse_scenario,
    shipped_scenario,
    with_undo,
)
from netns_lab.scenario.schema import CHECK_PARAMS, FAULT_FIELDS, SCHEMA, UNDO

__all__ = [
    "CHECK_PARAMS",
    "FAULT_FIELDS",
    "SCHEMA",
    "SELECTORS",
    "UNDO",
    "Expectation",
    "Fault",
    "KnownFailure",
    "Problem",
    "RandomFaults",
    "Router",
    "Scenario",
    "ScenarioError",
    "Server",
    "Workload",
    "load_scenario",
    "parse_fault",
    "parse_scenario",
    "shipped_scenario",
    "with_undo",
]
