"""Every trt_dyn switch in one place: what it does, its environment variable, its choices and default.

Each switch resolves, first match wins:

1. torch_tensorrt's ``CompilationSettings``, when the pass is handed them and one of them decides the switch:
   ``require_full_compilation=True`` makes ``on_missing`` ``"raise"`` (a node left to PyTorch cannot be part of
   one engine; raising names the op and the user's source line, where torch_tensorrt would later only say
   "model is not fully supported");
2. a value set in code: :func:`set` (``None`` goes back to the environment), an :func:`overrides` block, or the
   older module setters, which are aliases of :func:`set` (``trt_dyn.lowering.set_enabled``,
   ``trt_dyn.lowering.set_on_missing``, ``trt_dyn.lowering.data_dependent.set_mode``,
   ``trt_dyn.converters.nms.set_formulation``);
3. the environment variable;
4. the default.

======================  ===========================  ====================================  ===============
switch                  environment                  choices                               default
======================  ===========================  ====================================  ===============
``lowering``            ``TRT_DYN_LOWERING``         True / False (``0``, ``off``, ...)    True
``on_missing``          ``TRT_DYN_ON_MISSING``       ``raise``, ``warn``                   ``raise``
``data_dependent``      ``TRT_DYN_DATA_DEPENDENT``   ``auto``, ``dense``, ``native``       ``auto``
``nms_formulation``     ``TRT_DYN_NMS_FORMULATION``  ``fixed_point``, ``sequential``       ``fixed_point``
``no_gpu_shim``         ``TRT_DYN_NO_GPU_SHIM``      True / False (read at import)         True
``target_sm``           ``TRT_DYN_TARGET_SM``        ``major.minor``                       ``8.9``
``cpp_build_dir``       ``TRT_DYN_CPP_BUILD_DIR``    a directory                           ``build/cpp``
======================  ===========================  ====================================  ===============

This module imports only the standard library: the no-GPU shim reads it before torch_tensorrt is imported.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

__all__ = ["SWITCHES", "Switch", "get", "set", "overrides", "explain"]

_FALSE = ("0", "false", "off", "no")


def _flag(text: str) -> bool:
    return text.strip().lower() not in _FALSE


def _word(text: str) -> str:
    return text.strip().lower()


def _capability(text: str) -> Tuple[int, int]:
    try:
        major, minor = (int(part) for part in text.split("."))
    except ValueError as err:
        raise ValueError(f"must look like '8.9', got {text!r}") from err
    return major, minor


def _full_compilation_raises(compilation: Any) -> Optional[str]:
    return "raise" if getattr(compilation, "require_full_compilation", False) else None


@dataclass(frozen=True)
class Switch:
    name: str
    env: str
    default: str  # as the environment would spell it
    parse: Callable[[str], Any]
    choices: Optional[Tuple[Any, ...]] = None
    #: ``(CompilationSettings) -> value or None`` when torch_tensorrt's settings decide this switch
    from_compilation: Optional[Callable[[Any], Any]] = None
    doc: str = ""

    def check(self, value: Any) -> Any:
        if self.choices is not None and value not in self.choices:
            raise ValueError(f"{self.name} must be one of {self.choices}, got {value!r}")
        return value


SWITCHES: Dict[str, Switch] = {s.name: s for s in (
    Switch("lowering", "TRT_DYN_LOWERING", "1", _flag, (True, False), doc="the dyn lowering pass on/off"),
    Switch("on_missing", "TRT_DYN_ON_MISSING", "raise", _word, ("raise", "warn"), _full_compilation_raises,
           doc="a symbolic use without dyn variant: raise, or warn and leave it to PyTorch"),
    Switch("data_dependent", "TRT_DYN_DATA_DEPENDENT", "auto", _word, ("auto", "dense", "native"),
           doc="data-dependent ops: auto (dense/compaction on RTX, native NonZero on full TensorRT), dense, native"),
    Switch("nms_formulation", "TRT_DYN_NMS_FORMULATION", "fixed_point", _word, ("fixed_point", "sequential"),
           doc="how NMS's kept set is computed (docs/nms.md)"),
    Switch("no_gpu_shim", "TRT_DYN_NO_GPU_SHIM", "1", _flag, (True, False),
           doc="allow the no-GPU shim (read when trt_dyn is imported)"),
    Switch("target_sm", "TRT_DYN_TARGET_SM", "8.9", _capability,
           doc="compute capability engines are recorded for when built without a GPU"),
    Switch("cpp_build_dir", "TRT_DYN_CPP_BUILD_DIR", "", str, doc="where the C++ op library is built"),
)}

_set_in_code: Dict[str, Any] = {}


def _switch(name: str) -> Switch:
    if name not in SWITCHES:
        raise KeyError(f"no trt_dyn switch {name!r}; switches: {sorted(SWITCHES)}")
    return SWITCHES[name]


def explain(name: str, compilation: Any = None) -> Tuple[Any, str]:
    """``(value, where it came from)``: ``compilation settings``, ``code``, ``$ENV`` or ``default``."""
    switch = _switch(name)
    if compilation is not None and switch.from_compilation is not None:
        decided = switch.from_compilation(compilation)
        if decided is not None:
            return decided, "compilation settings"
    if name in _set_in_code:
        return _set_in_code[name], "code"
    text = os.environ.get(switch.env)
    if text is not None:
        try:
            return switch.check(switch.parse(text)), f"${switch.env}"
        except ValueError as err:
            raise ValueError(f"{switch.env}: {err}") from None
    return switch.parse(switch.default), "default"


def get(name: str, compilation: Any = None) -> Any:
    """The value of switch ``name``; ``compilation`` is torch_tensorrt's ``CompilationSettings`` when known."""
    return explain(name, compilation)[0]


def set(name: str, value: Any) -> Any:  # noqa: A001  (settings.set reads well at call sites)
    """Set switch ``name`` in code (``None``: back to the environment / default); returns the previous code value."""
    switch = _switch(name)
    previous = _set_in_code.get(name)
    if value is None:
        _set_in_code.pop(name, None)
    else:
        if switch.choices == (True, False):
            value = bool(value)
        _set_in_code[name] = switch.check(value)
    return previous


@contextlib.contextmanager
def overrides(**values: Any) -> Iterator[None]:
    """``with trt_dyn.settings.overrides(on_missing="warn"): ...`` sets switches for the block only."""
    saved = {name: _set_in_code.get(name) for name in values}
    try:
        for name, value in values.items():
            set(name, value)
        yield
    finally:
        for name, value in saved.items():
            set(name, value)
