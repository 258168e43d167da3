"""Measure what torch_tensorrt does *without* trt_dyn on the same exported program, in a subprocess.

The worker process never runs ``trt_dyn/__init__.py``: it loads only the no-GPU shim (by file path) and the
``trt_dyn.testing.compile_cpu`` plumbing, so none of trt_dyn's ops, converters or lowering passes are registered
(it checks that, and fails otherwise). It compiles twice with torch_tensorrt's own partitioner:

* ``require_full_compilation=False``: the number of TensorRT engines and the ops left to PyTorch (engines are built on
  the CPU and never run);
* ``require_full_compilation=True``: success, or the first line of torch_tensorrt's error.

Run in-process through :func:`measure_upstream`; the file is also the worker's entry point (run by path).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
import types
from typing import Any, Dict, List, Sequence

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_RESULT_PREFIX = "UPSTREAM_RESULT "


def measure_upstream(
    exported_program: Any, input_specs: Sequence[Dict[str, Any]], timeout: float = 1800.0
) -> Dict[str, Any]:
    """Compile ``exported_program`` with torch_tensorrt alone; ``input_specs`` are min/opt/max dicts per input."""
    import torch

    with tempfile.TemporaryDirectory() as scratch:
        program_path = os.path.join(scratch, "program.pt2")
        torch.export.save(exported_program, program_path)
        specs = [{key: list(value) if key != "dtype" else str(value) for key, value in spec.items()}
                 for spec in input_specs]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [os.path.dirname(_PACKAGE_DIR), os.environ.get("PYTHONPATH", "")]))
        done = subprocess.run(
            [sys.executable, os.path.abspath(__file__), program_path, json.dumps(specs)],
            capture_output=True, text=True, env=env, timeout=timeout,
        )
    lines = [line for line in done.stdout.splitlines() if line.startswith(_RESULT_PREFIX)]
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.strip().splitlines()[-20:])
        raise RuntimeError(f"upstream worker failed (exit {done.returncode}):\n{tail}")
    return json.loads(lines[-1][len(_RESULT_PREFIX):])


def load_shim_without_trt_dyn() -> None:
    """Make ``trt_dyn.*`` submodules importable without ``trt_dyn/__init__.py``, and install only the no-GPU shim.

    For worker processes that must see torch_tensorrt alone. This file imports nothing but the standard library at
    module level, so such a process can load it by file path before anything else.
    """
    package = types.ModuleType("trt_dyn")
    package.__path__ = [_PACKAGE_DIR]  # type: ignore[attr-defined]
    sys.modules["trt_dyn"] = package
    spec = importlib.util.spec_from_file_location("trt_dyn.no_gpu", os.path.join(_PACKAGE_DIR, "no_gpu.py"))
    shim = importlib.util.module_from_spec(spec)
    sys.modules["trt_dyn.no_gpu"] = shim
    spec.loader.exec_module(shim)  # type: ignore[union-attr]
    shim.install()


def _first_line(error: BaseException) -> str:
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0] if lines else ''}"[:300]


def _raised_in(error: BaseException) -> Dict[str, Any]:
    """The innermost torch_tensorrt frame of ``error``'s traceback (else the innermost frame): which pass or
    converter failed, so a report can name it instead of repeating a bare ``TypeError``."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return {}
    inside = [frame for frame in frames if f"{os.sep}torch_tensorrt{os.sep}" in frame.filename]
    frame = (inside or frames)[-1]
    # a comprehension's frame is named <genexpr>: the function that holds it says which pass failed
    named = [candidate for candidate in (inside or frames) if not candidate.name.startswith("<")]
    function = named[-1].name if named else frame.name
    module = frame.filename.split(f"site-packages{os.sep}")[-1]
    return {"file": module, "function": function, "line": frame.lineno, "code": (frame.line or "").strip()}


_UNSUPPORTED: Dict[str, set] = {}


def _op_name(target: Any) -> str:
    if isinstance(target, str) or hasattr(target, "_schema"):
        return str(target)
    from torch.fx.node import _get_qualified_name

    return _get_qualified_name(target)


def _record_unsupported_ops() -> None:
    """Collect, by op, the nodes torch_tensorrt's partitioners find no converter for (measurement only)."""
    from trt_dyn._hooks import recording_unsupported_nodes

    def record(node: Any) -> None:
        if node.op == "call_function":
            _UNSUPPORTED.setdefault(_op_name(node.target), set()).add(node.name)

    recording_unsupported_nodes(record)


def _unsupported_counts() -> Dict[str, int]:
    return {op: len(names) for op, names in sorted(_UNSUPPORTED.items())}


def _compile(program: Any, specs: List[Any], full: bool) -> Dict[str, Any]:
    from trt_dyn.testing.compile_cpu import compile_cpu

    _UNSUPPORTED.clear()
    start = time.perf_counter()
    try:
        compiled = compile_cpu(program, specs, require_full_compilation=full, min_block_size=1)
    except Exception as error:  # noqa: BLE001  (the error is the measurement)
        return {"ok": False, "error": _first_line(error), "raised_in": _raised_in(error),
                "seconds": time.perf_counter() - start, "unsupported_ops": _unsupported_counts()}
    return {
        "ok": True,
        "unsupported_ops": _unsupported_counts(),
        "engines": compiled.num_trt_engines,
        "pytorch_ops": sorted({str(node.target) for node in compiled.pytorch_nodes}),
        "pytorch_nodes": len(compiled.pytorch_nodes),
        "seconds": time.perf_counter() - start,
    }


def _worker(program_path: str, specs_json: str) -> Dict[str, Any]:
    load_shim_without_trt_dyn()
    import torch
    import torch_tensorrt
    import torchvision  # noqa: F401  (its ops must exist before the program is loaded)

    leaked = sorted(name for name in sys.modules if name.startswith(("trt_dyn.ops", "trt_dyn.converters",
                                                                        "trt_dyn.lowering")))
    if leaked:
        raise RuntimeError(f"upstream worker imported trt_dyn registrations {leaked}; the comparison would be void")
    _record_unsupported_ops()
    program = torch.export.load(program_path)
    specs = []
    for spec in json.loads(specs_json):
        dtype = getattr(torch, spec.get("dtype", "torch.float32").replace("torch.", ""))
        specs.append(torch_tensorrt.Input(
            min_shape=spec["min"], opt_shape=spec["opt"], max_shape=spec["max"], dtype=dtype))
    return {
        "torch_tensorrt": torch_tensorrt.__version__,
        "partitioned": _compile(program, specs, full=False),
        "full_compilation": _compile(program, specs, full=True),
    }


if __name__ == "__main__":
    try:
        result = _worker(sys.argv[1], sys.argv[2])
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        sys.exit(1)
    print(_RESULT_PREFIX + json.dumps(result))
