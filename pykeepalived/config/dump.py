"""``--dump-conf``: the resolved model as JSON (dataclasses -> plain dicts, locations as "file:line",
addresses and networks as text)."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from typing import Any

from .errors import Location
from .model import KeepalivedConfig, VirtualServer


def to_jsonable(obj: Any) -> Any:
    if isinstance(obj, Location):
        return str(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        if isinstance(obj, VirtualServer):
            out["name"] = obj.name
        return out
    if isinstance(obj, ipaddress.IPv4Address | ipaddress.IPv6Address | ipaddress.IPv4Network
                  | ipaddress.IPv6Network):
        return str(obj)
    if isinstance(obj, tuple | list):
        return [to_jsonable(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    return obj


def dump_json(config: KeepalivedConfig, indent: int | None = 2) -> str:
    return json.dumps(to_jsonable(config), indent=indent)
