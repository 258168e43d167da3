"""The model zoo table: torch_tensorrt alone vs with trt_dyn on models users bring, H and W dynamic.

For every model of :data:`trt_dyn.models.zoo.ZOO` (random weights, BatchNorm calibrated): export with H, W
dynamic (checked: no specialization), measure torch_tensorrt **alone** in a subprocess that never loads trt_dyn's
registrations (engines / nodes left to PyTorch when partitioning, the error with ``require_full_compilation``),
then compile with trt_dyn and ``require_full_compilation=True`` (engines, nodes left to PyTorch, TensorRT layers,
build seconds) and compare the CPU executor with eager at the min, max and an odd image size (max relative error
of float outputs, i.e. max |a - e| / max(|e|, 1); integer outputs must match exactly, the count of differing
elements is given).

    python benchmarks/zoo.py [--tiny] [--models NAME ...] [--no-upstream] [--json PATH]

``--tiny`` runs the fastest model only.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
import warnings
from typing import Any, Dict, List, Optional, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import torch  # noqa: E402
import torchvision  # noqa: E402,F401  (roi_align registered before programs are exported or loaded)

import trt_dyn  # noqa: E402,F401  (no-GPU shim before torch_tensorrt)
from _common import markdown_table, publish  # noqa: E402
from trt_dyn.models.zoo import ZOO, build_zoo_model, export_zoo_model, zoo_input  # noqa: E402
from trt_dyn.testing import compile_cpu  # noqa: E402
from trt_dyn.testing.harness import network_layer_types  # noqa: E402

DEFAULT_JSON = os.path.join(HERE, "results", "zoo.json")
TINY_MODELS = ("vit_dynamic_resolution",)


def _specs(entry: Any) -> List[Dict[str, Any]]:
    opt = entry.odd_hw
    return [{"min": (1, 3, *entry.min_hw), "opt": (1, 3, *opt), "max": (1, 3, *entry.max_hw)}]


def _errors(actual: Any, expected: Any) -> Dict[str, Any]:
    got = torch.utils._pytree.tree_leaves(actual)
    want = torch.utils._pytree.tree_leaves(expected)
    if len(got) != len(want):
        return {"ok": False, "detail": f"{len(got)} outputs, eager {len(want)}"}
    relative, int_mismatches = 0.0, 0
    for a, e in zip(got, want):
        if a.shape != e.shape:
            return {"ok": False, "detail": f"shape {tuple(a.shape)} vs eager {tuple(e.shape)}"}
        if e.dtype.is_floating_point:
            if e.numel():
                relative = max(relative, float(((a.double() - e.double()).abs() / e.double().abs().clamp_min(1.0))
                                               .max()))
        else:
            int_mismatches += int((a != e).sum())
    return {"ok": True, "max_rel": relative, "int_mismatches": int_mismatches}


def measure(name: str, upstream: bool) -> Dict[str, Any]:
    from trt_dyn.testing.upstream import measure_upstream

    entry = ZOO[name]
    row: Dict[str, Any] = {"model": name, "nms": entry.nms if entry.output_keys else "-"}
    model = build_zoo_model(name)
    start = time.perf_counter()
    program = export_zoo_model(name, model)
    row["export_s"] = round(time.perf_counter() - start, 1)
    if upstream:
        row["upstream"] = measure_upstream(program, _specs(entry))
    start = time.perf_counter()
    compiled = compile_cpu(program, require_full_compilation=True, min_block_size=1)
    row["build_s"] = round(time.perf_counter() - start, 1)
    row["engines"] = compiled.num_trt_engines
    row["pytorch_nodes"] = len(compiled.pytorch_nodes)
    row["layers"] = sum(sum(network_layer_types(engine.network).values()) for engine in compiled.engines)
    row["sizes"] = {}
    for index, hw in enumerate(entry.test_sizes):
        images = zoo_input(hw, seed=100 + index)
        with torch.no_grad():
            row["sizes"][f"{hw[0]}x{hw[1]}"] = _errors(compiled(images), model(images))
    return row


def _upstream_cell(result: Optional[Dict[str, Any]]) -> str:
    if result is None:
        return "not measured"
    partitioned, full = result["partitioned"], result["full_compilation"]
    if partitioned["ok"]:
        cell = f"{partitioned['engines']} / {partitioned['pytorch_nodes']}"
    else:
        cell = f"partitioned compile failed: {partitioned['error'][:80]}"
    error = "ok" if full["ok"] else full["error"][:100]
    return f"{cell} / {error}"


def table(result: Dict[str, Any]) -> str:
    header = ["model", "torch_tensorrt alone (engines / nodes / full-compilation error)", "trt_dyn (engines / nodes)",
              "layers", "build s", "max rel error vs eager at min, max, odd (int mismatches)"]
    rows = []
    for row in result["rows"]:
        if "error" in row:
            rows.append([row["model"], _upstream_cell(row.get("upstream")), "failed", "-", "-", row["error"][:120]])
            continue
        sizes = "; ".join(
            f"{hw}: {s['max_rel']:.1e} ({s['int_mismatches']})" if s["ok"] else f"{hw}: {s['detail']}"
            for hw, s in row["sizes"].items())
        rows.append([row["model"] + (" (NMS -> top-k)" if row["nms"] == "topk" else ""),
                     _upstream_cell(row.get("upstream")), f"{row['engines']} / {row['pytorch_nodes']}",
                     row["layers"], row["build_s"], sizes])
    return markdown_table(header, rows)


def run(tiny: bool, models: Optional[Sequence[str]] = None, upstream: bool = True) -> Dict[str, Any]:
    names = list(models or (TINY_MODELS if tiny else ZOO))
    rows = []
    for name in names:
        print(f"zoo: {name} ...", flush=True)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rows.append(measure(name, upstream))
        except Exception as error:  # noqa: BLE001  (a failing model is a row of the table)
            rows.append({"model": name, "error": f"{type(error).__name__}: {str(error).splitlines()[0]}",
                         "traceback": traceback.format_exc()[-2000:]})
    return {"rows": rows}


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--models", nargs="*", choices=sorted(ZOO))
    parser.add_argument("--no-upstream", action="store_true")
    parser.add_argument("--json", default=DEFAULT_JSON)
    args = parser.parse_args(argv)
    result = run(args.tiny, args.models, upstream=not args.no_upstream)
    publish(table(result), args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
