"""keepalived.conf compatibility: preprocessor, grammar and the typed model (see model.py).

Entry point::

    result = load_config("/etc/keepalived/keepalived.conf", config_id="lb1")
    result.config        # KeepalivedConfig, frozen dataclasses, keepalived's defaults applied
    result.diagnostics   # list[Diagnostic], each with file:line
    result.exit_status   # keepalived 2.2.7's `-t` exit status for this config
"""

from __future__ import annotations

import gc
from dataclasses import dataclass

from .build import Builder, HostView
from .errors import Diagnostic, Diagnostics, Location, Severity, exit_status
from .model import KeepalivedConfig
from .parser import Parser
from .preprocess import PreprocessOptions, Preprocessor
from .reader import BlockReader

__all__ = ["ConfigResult", "Diagnostic", "HostView", "KeepalivedConfig", "Location", "PreprocessOptions",
           "Severity", "load_config"]


@dataclass(frozen=True, slots=True)
class ConfigResult:
    config: KeepalivedConfig
    diagnostics: tuple[Diagnostic, ...]

    @property
    def exit_status(self) -> int:
        return exit_status(list(self.diagnostics))


def load_config(path: str, config_id: str | None = None, host: HostView | None = None,
                options: PreprocessOptions | None = None) -> ConfigResult:
    """Read, preprocess, parse and validate ``path``. Never raises on bad input."""
    diags = Diagnostics()
    opts = options or PreprocessOptions()
    if config_id is not None:
        opts.config_id = config_id
    # A big config allocates hundreds of thousands of small containers that all stay alive; the cyclic
    # GC would rescan them over and over (half the run time at 37k real servers) and finds nothing.
    # The intermediates (one word list per line) die inside _load, before the GC is back on. The model
    # that survives is long-lived by nature, so it goes straight to the oldest generation
    # (freeze + unfreeze moves every tracked object there without scanning): otherwise the first young
    # collection after loading would walk all of it (~20% of the run at 37k real servers). Full
    # collections still see it, and plain reference counting frees it when a reload drops it.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        result = _load(path, diags, opts, host)
        gc.freeze()
        gc.unfreeze()
    finally:
        if gc_was_enabled:
            gc.enable()
    return result


def _load(path: str, diags: Diagnostics, opts: PreprocessOptions, host: HostView | None) -> ConfigResult:
    pre = Preprocessor(diags, opts)
    # Lines stream from the preprocessor into the parser chunk by chunk (for a plain file; see
    # Preprocessor.stream), so a big config's lines are never all alive at once.
    chunks = pre.stream(path)
    top = Parser(BlockReader(next(chunks, []), diags, more=chunks), diags).run()
    del chunks
    config = Builder(top, diags, host or HostView()).build(tuple(pre.files))
    return ConfigResult(config, tuple(diags.collected()))
