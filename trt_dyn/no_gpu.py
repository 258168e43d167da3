"""Build TensorRT engines with torch_tensorrt on a machine that has no CUDA device.

torch_tensorrt 2.14 assumes a GPU in three places that matter for ahead-of-time builds:

* at import, ``torch_tensorrt._utils.is_tegra_platform`` calls ``torch.cuda.get_device_capability``;
* while compiling, ``torch.cuda.current_device`` (default device) and ``torch.cuda.mem_get_info``
  (a memory warning) are called;
* right after ``build_serialized_network`` the interpreter deserializes the engine it just built,
  which needs a CUDA runtime.

TensorRT-RTX builds engines on the CPU, so none of these are needed to *build*. :func:`install`
replaces exactly those four entry points, and only when ``torch.cuda.is_available()`` is False:

=====================================  ==================================================
patched                                 behaviour while installed (no CUDA device only)
=====================================  ==================================================
``torch.cuda.get_device_capability``   returns the build target, ``TRT_DYN_TARGET_SM``
                                        (default ``8.9``); never a Tegra capability
``torch.cuda.current_device``          returns 0
``torch.cuda.mem_get_info``            returns host (available, total) memory
``Runtime.deserialize_cuda_engine``    returns a :class:`HostEngine` holding the serialized
                                        bytes (TensorRT itself can only fail without a device)
=====================================  ==================================================

On a machine with a CUDA device :func:`install` does nothing and returns False. :func:`uninstall`
restores every original. ``import trt_dyn`` calls :func:`install` before importing torch_tensorrt;
set ``TRT_DYN_NO_GPU_SHIM=0`` to forbid it.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from typing import Any, Dict, List, Optional, Tuple

import torch


def _sibling(name: str) -> Any:
    """``trt_dyn.<name>``; loaded by file path when this file was (tests and worker processes that must not
    import the trt_dyn package). Both siblings import only the standard library and torch."""
    if __package__:
        return importlib.import_module(f"{__package__}.{name}")
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"trt_dyn_{name}_alone", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module through sys.modules
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


_hooks = _sibling("_hooks")
_settings = _sibling("settings")

__all__ = ["install", "uninstall", "is_active", "HostEngine", "target_capability"]

#: (owner, name) -> original, for everything the shim replaced (kept by trt_dyn._hooks)
_originals: Dict[Tuple[Any, str], Any] = _hooks.REPLACED


def target_capability() -> Tuple[int, int]:
    """Compute capability reported while the shim is active (``TRT_DYN_TARGET_SM=major.minor``)."""
    return _settings.get("target_sm")


def _host_memory() -> Tuple[int, int]:
    page = os.sysconf("SC_PAGE_SIZE")
    total = os.sysconf("SC_PHYS_PAGES") * page
    available = os.sysconf("SC_AVPHYS_PAGES") * page
    return available, total


class HostEngine:
    """Stands in for an ``ICudaEngine`` that cannot be deserialized without a GPU.

    It offers what torch_tensorrt's interpreter asks of a freshly built engine: the serialized bytes
    and the (empty) output-to-input aliasing. Anything else raises, naming the missing device.
    """

    def __init__(self, serialized: Any):
        self._bytes = bytes(memoryview(serialized))

    def serialize(self) -> bytes:
        return self._bytes

    def get_aliased_input_tensor(self, name: str) -> Optional[str]:
        return None

    def __len__(self) -> int:
        return len(self._bytes)

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(
            f"HostEngine.{name}: the engine was built on a machine without a CUDA device and cannot "
            "be deserialized here; only its serialized bytes are available (trt_dyn.no_gpu)."
        )


def is_active() -> bool:
    return bool(_originals)


def install(trt_module: Any = None) -> bool:
    """Activate the shim if (and only if) no CUDA device exists. Returns whether it is active.

    ``trt_module`` is the TensorRT Python module whose ``Runtime`` should be patched; when omitted it
    is patched later by :func:`patch_runtime` (trt_dyn does this right after importing torch_tensorrt).
    """
    if not _settings.get("no_gpu_shim"):
        return False
    if torch.cuda.is_available():
        return False
    if not is_active():
        _hooks.answer_cuda_queries({
            "get_device_capability": lambda device=None: target_capability(),
            "current_device": lambda: 0,
            "mem_get_info": lambda device=None: _host_memory(),
        })
    if trt_module is not None:
        patch_runtime(trt_module)
    return True


def patch_runtime(trt_module: Any) -> None:
    if not is_active():
        return

    def deserialize_cuda_engine(self: Any, serialized: Any) -> Any:
        # Without a device TensorRT can only fail (and log an error); skip straight to the bytes.
        return HostEngine(serialized)

    _hooks.deserialize_engines_with(trt_module, deserialize_cuda_engine)


def uninstall() -> List[str]:
    """Restore every patched function; returns the names that were restored."""
    return _hooks.restore_attributes()
