"""Upstream torch_tensorrt vs torch_tensorrt + trt_dyn, per model pattern.

For each pattern the same exported program is compiled twice, each in its own subprocess:

* ``upstream``: torch_tensorrt alone. Only trt_dyn's no-GPU shim and its CPU test plumbing are
  loaded, without ``trt_dyn/__init__.py``, so none of trt_dyn's ops, converters or lowering passes
  are registered (the worker checks that and fails otherwise);
* ``trt_dyn``: after ``import trt_dyn``.

Each worker compiles with ``require_full_compilation=False`` (recording how many TensorRT engines
and which PyTorch ops torch_tensorrt's partitioner produced) and with ``True`` (recording success or
the error). Engines are built on the CPU (TensorRT-RTX) through :func:`trt_dyn.testing.compile_cpu`
and never run. Prints a markdown table and writes JSON.

Add a pattern: write a function returning :class:`Pattern` and list it in ``PATTERNS``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEFAULT_JSON = os.path.join(REPO, "benchmarks", "results", "upstream_vs_trt_dyn.json")


@dataclass
class Pattern:
    module: Any
    example_args: tuple
    dynamic_shapes: Any
    #: torch_tensorrt.Input-like dicts (min/opt/max/dtype) per input
    input_specs: List[Dict[str, Any]]
    description: str


def _roi_head_pattern(tiny: bool, sampling_ratio: int, aligned: bool) -> Pattern:
    """conv -> roi_align (N, 5 boxes, dynamic N and feature H/W) -> flatten -> linear, like a box head."""
    import torch
    from torch.export import Dim
    from torchvision.ops import roi_align

    channels, pooled = (8, 7) if tiny else (256, 7)
    max_side = 64 if tiny else 256
    max_boxes = 64 if tiny else 1000

    class BoxHead(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(channels, channels, 3, padding=1)
            self.fc = torch.nn.Linear(channels * pooled * pooled, 16)

        def forward(self, features: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
            torch._check(features.shape[2] <= max_side)
            torch._check(features.shape[3] <= max_side)
            mapped = torch.relu(self.conv(features))
            pooled_features = roi_align(
                mapped, rois, (pooled, pooled), spatial_scale=0.25, sampling_ratio=sampling_ratio, aligned=aligned
            )
            return self.fc(pooled_features.flatten(1))

    torch.manual_seed(0)
    features = torch.randn(1, channels, max_side // 2, max_side // 2)
    boxes = torch.rand(8, 4) * max_side * 2
    rois = torch.cat([torch.zeros(8, 1), boxes.sort(dim=1).values], dim=1)
    auto = Dim.AUTO
    dynamic = ({2: auto, 3: auto}, {0: Dim("num_boxes", min=1, max=max_boxes)})
    specs = [
        {"min": (1, channels, 8, 8), "opt": tuple(features.shape), "max": (1, channels, max_side, max_side)},
        {"min": (1, 5), "opt": (8, 5), "max": (max_boxes, 5)},
    ]
    return Pattern(
        BoxHead().eval(), (features, rois), dynamic, specs,
        f"conv -> roi_align(sampling_ratio={sampling_ratio}, aligned={aligned}) -> linear",
    )


PATTERNS: Dict[str, Callable[[bool], Pattern]] = {
    "roi_align_sr2": lambda tiny: _roi_head_pattern(tiny, sampling_ratio=2, aligned=False),
    "roi_align_adaptive": lambda tiny: _roi_head_pattern(tiny, sampling_ratio=0, aligned=True),
}


def _load_without_trt_dyn_registrations() -> None:
    """Install only trt_dyn's no-GPU shim; trt_dyn's ops, converters and passes stay unregistered."""
    path = os.path.join(REPO, "trt_dyn", "testing", "upstream.py")
    spec = importlib.util.spec_from_file_location("trt_dyn_upstream_loader", path)
    loader = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loader)  # type: ignore[union-attr]
    loader.load_shim_without_trt_dyn()


def _compile(pattern: Pattern, full: bool) -> Dict[str, Any]:
    import torch
    import torch_tensorrt

    from trt_dyn.testing.compile_cpu import compile_cpu

    program = torch.export.export(pattern.module, pattern.example_args, dynamic_shapes=pattern.dynamic_shapes)
    specs = [
        torch_tensorrt.Input(min_shape=s["min"], opt_shape=s["opt"], max_shape=s["max"], dtype=torch.float32)
        for s in pattern.input_specs
    ]
    start = time.perf_counter()
    try:
        compiled = compile_cpu(program, specs, require_full_compilation=full, min_block_size=1)
    except Exception as error:  # noqa: BLE001  (the error is the measurement)
        message = str(error).strip().splitlines()
        return {
            "ok": False,
            "error": f"{type(error).__name__}: {message[0] if message else ''}"[:300],
            "seconds": time.perf_counter() - start,
        }
    layers = [engine.num_layers for engine in compiled.engines]
    roi_layers = None
    converters = sys.modules.get("trt_dyn.converters.roi_align")
    if converters is not None:
        roi_layers = sum(converters.count_roi_align_layers(engine.network) for engine in compiled.engines)
    return {
        "ok": True,
        "engines": compiled.num_trt_engines,
        "pytorch_ops": sorted({node.target for node in compiled.pytorch_nodes}),
        "trt_layers": layers,
        "roi_align_layers": roi_layers,
        "seconds": time.perf_counter() - start,
    }


def worker(mode: str, pattern_name: str, tiny: bool) -> Dict[str, Any]:
    """Run in a fresh process: compile one pattern in one mode, return the measurements."""
    if mode == "upstream":
        _load_without_trt_dyn_registrations()
    else:
        import trt_dyn  # noqa: F401
    import torchvision  # noqa: F401  (the op must exist before the program is exported)

    from torch_tensorrt.dynamo.conversion._ConverterRegistry import DYNAMO_CONVERTERS
    import torch

    has_converter = torch.ops.torchvision.roi_align.default in DYNAMO_CONVERTERS
    if mode == "upstream" and (has_converter or "trt_dyn.converters" in sys.modules):
        raise RuntimeError("upstream worker: trt_dyn's converters were loaded; the comparison would be void")
    pattern = PATTERNS[pattern_name](tiny)
    return {
        "mode": mode,
        "pattern": pattern_name,
        "description": pattern.description,
        "roi_align_converter": has_converter,
        "partitioned": _compile(pattern, full=False),
        "full_compilation": _compile(pattern, full=True),
    }


def _run_worker(mode: str, pattern_name: str, tiny: bool) -> Dict[str, Any]:
    from _common import run_result_worker  # not at module level: the worker process must not import trt_dyn

    command = [sys.executable, os.path.abspath(__file__), "--worker", mode, "--pattern", pattern_name]
    command += ["--tiny"] if tiny else []
    return run_result_worker(command, f"worker {mode}/{pattern_name}", [REPO], REPO)


def table(results: Sequence[Dict[str, Any]]) -> str:
    from trt_dyn.tables import markdown_table

    rows = []
    for result in results:
        part, full = result["partitioned"], result["full_compilation"]
        if part["ok"]:
            engines = part["engines"]
            torch_ops = ", ".join(part["pytorch_ops"]) or "none"
            layers = "+".join(map(str, part["trt_layers"])) or "0"
        else:
            engines, torch_ops, layers = "error", part["error"], "-"
        full_text = f"1 engine ({full['seconds']:.1f} s)" if full["ok"] and full["engines"] == 1 else (
            f"{full['engines']} engines" if full["ok"] else full["error"]
        )
        rows.append([
            result["pattern"], result["mode"], engines, torch_ops, layers,
            part.get("roi_align_layers") if part["ok"] and part.get("roi_align_layers") is not None else "-",
            full_text,
        ])
    return markdown_table(
        [
            "pattern", "stack", "TRT engines (full=False)", "ops left to PyTorch", "TRT layers per engine",
            "roi_align layers", "require_full_compilation=True",
        ],
        rows,
    )


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="small channels/sizes: seconds, for CI and tests")
    parser.add_argument("--pattern", action="append", choices=sorted(PATTERNS), help="default: all")
    parser.add_argument("--json", default=DEFAULT_JSON, help="where to write the results")
    parser.add_argument("--worker", choices=["upstream", "trt_dyn"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    names = args.pattern or list(PATTERNS)
    if args.worker:
        print("RESULT " + json.dumps(worker(args.worker, names[0], args.tiny), default=str))
        return 0
    sys.path.insert(0, HERE)
    from _common import publish

    results = [_run_worker(mode, name, args.tiny) for name in names for mode in ("upstream", "trt_dyn")]
    publish(table(results), args.json, {"tiny": args.tiny, "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
