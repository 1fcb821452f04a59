"""Read YAML keeping the line of every field, so an error in a scenario file names its file and line.

PyYAML composes a node tree whose nodes carry ``start_mark``; we walk that tree once, recording for every
path (a tuple of mapping keys and list indexes, the same shape as jsonschema's ``absolute_path``) the line its
value starts on, and the line of its key. Then the same node tree is constructed into plain Python data with
PyYAML's safe constructor (no arbitrary objects). Duplicate keys, which PyYAML silently keeps the last of, are
refused: in a scenario they are always a mistake.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import yaml

__all__ = ["Located", "YamlError", "load_located"]

Path = tuple[str | int, ...]


class YamlError(ValueError):
    """The text is not YAML we accept; ``line`` is 1-based (0: unknown)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass
class Located:
    """Parsed data and, for each path into it, the 1-based line where that value starts (and its key's line)."""

    data: Any
    value_lines: dict[Path, int] = field(default_factory=dict)
    key_lines: dict[Path, int] = field(default_factory=dict)

    def line(self, path: Path) -> int:
        """The line of ``path``'s key if it has one, else of its value; falls back to the nearest parent."""
        p = tuple(path)
        while True:
            if p in self.key_lines:
                return self.key_lines[p]
            if p in self.value_lines:
                return self.value_lines[p]
            if not p:
                return 1
            p = p[:-1]

    def value_line(self, path: Path) -> int:
        """The line where ``path``'s value starts (for a block scalar: the line of its ``|`` indicator)."""
        p = tuple(path)
        while p not in self.value_lines and p:
            p = p[:-1]
        return self.value_lines.get(p, 1)


class _Loader(yaml.SafeLoader):
    """SafeLoader: plain data only."""


def _walk(loader: _Loader, node: yaml.Node, path: Path, out: Located) -> None:
    out.value_lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolve YAML merge keys ("<<") the way construction will
        seen: dict[Hashable, int] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str | int) or isinstance(key, bool):
                raise YamlError(line, f"keys must be names, not {key!r}")
            if key in seen:
                raise YamlError(line, f"duplicate key {key!r} (first on line {seen[key]})")
            seen[key] = line
            child = (*path, key)
            out.key_lines[child] = line
            _walk(loader, value_node, child, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(loader, item, (*path, i), out)


def load_located(text: str) -> Located:
    """Parse one YAML document; YamlError with the line for syntax errors, duplicates and empty documents."""
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            problem = exc.problem or exc.context or "not valid YAML"
            raise YamlError(mark.line + 1 if mark else 0, f"not valid YAML: {problem}") from None
        except yaml.YAMLError as exc:
            raise YamlError(0, f"not valid YAML: {exc}") from None
        if node is None:
            raise YamlError(1, "the file is empty")
        out = Located(data=None)
        try:
            _walk(loader, node, (), out)
            out.data = loader.construct_document(node)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            raise YamlError(mark.line + 1 if mark else 0, f"not valid YAML: {exc.problem or exc}") from None
        return out
    finally:
        loader.dispose()
