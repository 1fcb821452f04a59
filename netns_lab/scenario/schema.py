"""The JSON schema of a scenario file (checked with jsonschema before the model reads it).

The schema owns the *shape* (field names, types, ranges, which fields each fault kind and each check takes);
:mod:`netns_lab.scenario.model` owns the cross-references (a fault's target is a host of the topology, a router
is not also a server, a config file exists). ``netns-lab schema`` prints it, for editors that validate YAML.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CHECK_PARAMS", "FAULT_FIELDS", "IMPLS", "SCHEMA", "UNDO"]

#: implementations a router can run
IMPLS = ("pykeepalived", "keepalived")

_NUMBER_S = {"type": "number", "minimum": 0}
_HOST = {"type": "string", "pattern": "^[a-z][a-z0-9-]{0,19}$"}
_TARGET = {"type": "string", "minLength": 1, "description": "a host name, or 'master' / 'backup' (chosen when due)"}

#: fault kind -> the fields it takes besides ``at``, ``fault`` and ``note`` (and which are required)
FAULT_FIELDS: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "kill": ({"target": _TARGET, "duration": _NUMBER_S}, ("target",)),
    "stop": ({"target": _TARGET, "duration": _NUMBER_S}, ("target",)),
    "start": ({"target": _TARGET}, ("target",)),
    "pause": ({"target": _TARGET, "duration": _NUMBER_S}, ("target",)),
    "resume": ({"target": _TARGET}, ("target",)),
    "reload": ({"target": _TARGET}, ("target",)),
    "priority": (
        {"target": _TARGET, "priority": {"type": "integer", "minimum": 1, "maximum": 254}},
        ("target", "priority"),
    ),
    "track-file": (
        {
            "target": _TARGET,
            "file": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"},
            "value": {"type": "integer", "minimum": -254, "maximum": 254},
        },
        ("target", "file", "value"),
    ),
    "partition": (
        {
            "groups": {
                "type": "array",
                "minItems": 1,
                "items": {"type": "array", "minItems": 1, "items": _HOST},
            },
            "switch": _HOST,
            "duration": _NUMBER_S,
        },
        ("groups",),
    ),
    "heal": ({"switch": _HOST}, ()),
    "loss": (
        {
            "targets": {"type": "array", "minItems": 1, "items": _TARGET},
            "probability": {"type": "number", "minimum": 0, "maximum": 1},
            "duration": _NUMBER_S,
        },
        ("targets", "probability"),
    ),
    "clear-loss": ({"targets": {"type": "array", "minItems": 1, "items": _TARGET}}, ()),
    "link-down": ({"target": _TARGET, "ifname": {"type": "string"}, "duration": _NUMBER_S}, ("target",)),
    "link-up": ({"target": _TARGET, "ifname": {"type": "string"}}, ("target",)),
    "server-stop": ({"target": _HOST, "duration": _NUMBER_S}, ("target",)),
    "server-start": ({"target": _HOST}, ("target",)),
}

#: fault kind -> the kind that undoes it, scheduled ``duration`` seconds later when a fault has a duration
UNDO = {
    "kill": "start",
    "stop": "start",
    "pause": "resume",
    "partition": "heal",
    "loss": "clear-loss",
    "link-down": "link-up",
    "server-stop": "server-start",
}

#: expectation (checker) name -> its parameters' schemas
CHECK_PARAMS: dict[str, dict[str, Any]] = {
    "one_master": {},
    "dual_master_only_under_fault": {"grace": _NUMBER_S},
    "failover_gap": {"tolerance": _NUMBER_S},
    "client_outage": {"max": _NUMBER_S},
    "transitions_per_fault": {"max": {"type": "integer", "minimum": 0}},
    "final_master": {"host": _HOST},
    "no_master_change": {},
    "client_view": {"grace": _NUMBER_S},
    "real_server_removed": {"tolerance": _NUMBER_S},
    "no_failed_request_to_healthy_server": {"tolerance": _NUMBER_S},
    "ipvs_converged": {
        "dests": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "service": {"type": "string", "pattern": "^(TCP|UDP|SCTP|FWM) "},
    },
}


def _fault_schema() -> dict[str, Any]:
    branches = []
    for kind, (fields, required) in FAULT_FIELDS.items():
        branches.append(
            {
                "if": {"properties": {"fault": {"const": kind}}, "required": ["fault"]},
                "then": {
                    "properties": {"at": {}, "fault": {}, "note": {}, **fields},
                    "required": list(required),
                    "additionalProperties": False,
                },
            }
        )
    return {
        "type": "object",
        "required": ["at", "fault"],
        "properties": {
            "at": {"type": "number", "minimum": 0, "description": "seconds after the routers have settled"},
            "fault": {"enum": list(FAULT_FIELDS)},
            "note": {"type": "string"},
        },
        "allOf": branches,
    }


def _check_schema() -> dict[str, Any]:
    branches = [
        {
            "if": {"properties": {"check": {"const": name}}, "required": ["check"]},
            "then": {"properties": {"check": {}, "note": {}, **params}, "additionalProperties": False},
        }
        for name, params in CHECK_PARAMS.items()
    ]
    return {
        "type": "object",
        "required": ["check"],
        "properties": {"check": {"enum": list(CHECK_PARAMS)}, "note": {"type": "string"}},
        "allOf": branches,
    }


SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "netns-lab scenario",
    "type": "object",
    "required": ["name", "routers"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z][a-z0-9-]{0,39}$"},
        "description": {"type": "string"},
        "topology": {
            "oneOf": [
                {"const": "default"},
                {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "name": {"type": "string"},
                        "hosts": {"type": "array"},
                        "switches": {"type": "array"},
                        "links": {"type": "array"},
                    },
                    "required": ["hosts", "switches", "links"],
                },
            ]
        },
        "kernel": {"enum": ["auto", "host", "uml"]},
        "ipvs": {
            "type": "boolean",
            "description": "the scenario needs IPVS (default: when a router's config has virtual_server blocks)",
        },
        "routers": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": _HOST,
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "config": {"type": "string", "minLength": 1},
                    "config_file": {"type": "string", "minLength": 1},
                    "impl": {"enum": list(IMPLS)},
                },
            },
        },
        "servers": {
            "type": "object",
            "propertyNames": _HOST,
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "required": ["serve"],
                "properties": {
                    "serve": {"enum": ["http", "tcp"]},
                    "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                },
            },
        },
        "workload": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["client", "target", "port"],
                "properties": {
                    "client": _HOST,
                    "target": {"type": "string"},
                    "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                    "protocol": {"enum": ["tcp", "http"]},
                    "rate": {"type": "number", "exclusiveMinimum": 0, "maximum": 1000},
                    "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 60},
                    "path": {"type": "string", "pattern": "^/"},
                },
            },
        },
        "faults": {"type": "array", "items": _fault_schema()},
        "random_faults": {
            "type": "object",
            "additionalProperties": False,
            "required": ["count", "kinds"],
            "properties": {
                "seed": {"type": "integer"},
                "count": {"type": "integer", "minimum": 1, "maximum": 1000},
                "start": _NUMBER_S,
                "spacing": {"type": "number", "exclusiveMinimum": 0},
                "duration": {"type": "number", "exclusiveMinimum": 0},
                "kinds": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"enum": ["kill", "stop", "pause", "partition", "loss", "link-down"]},
                },
                "targets": {"type": "array", "minItems": 1, "items": _TARGET},
                "probability": {"type": "number", "minimum": 0, "maximum": 1},
            },
        },
        "duration": {"type": "number", "exclusiveMinimum": 0, "maximum": 3600},
        "settle": _NUMBER_S,
        "expect": {"type": "array", "items": _check_schema()},
        "known_failures": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["impl", "reason"],
                "properties": {"impl": {"enum": list(IMPLS)}, "reason": {"type": "string", "minLength": 1}},
            },
        },
    },
}
