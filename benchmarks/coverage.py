"""Coverage vs upstream: TensorRT engines and nodes left to PyTorch, with and without ``import trt_dyn``.

The dynamic-shape pattern suite of the tests (the model classes of ``tests/lowering/test_patterns.py``
and ``tests/converters/test_selection.py`` with the dynamic ranges those tests use, the roi_align box
heads of ``benchmarks/upstream_vs_trt_dyn.py`` and, unless ``--tiny``, the Cascade Mask R-CNN replica)
is exported and compiled by ``torch_tensorrt.dynamo.compile`` (through :func:`trt_dyn.testing.compile_cpu`,
engines built on the CPU, never run) twice per stack:

* ``require_full_compilation=False, min_block_size=1``: how many TensorRT engines the partitioner made
  and how many computation nodes it left to PyTorch (which ops);
* ``require_full_compilation=True``: one engine, or the first line of the error.

The ``upstream`` stack runs in a subprocess that never imports trt_dyn's ops, converters or lowering:
only ``trt_dyn/no_gpu.py`` (loaded by file path and installed) and the CPU test plumbing, as in
``upstream_vs_trt_dyn.py``; the worker refuses to measure if any trt_dyn registration is present. The
model classes are read from the test files' source (their class definitions only), so the test modules,
which import trt_dyn, are never imported there. Both stacks are measured in the same run.

    python benchmarks/coverage.py [--tiny] [--json PATH]
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
DEFAULT_JSON = os.path.join(HERE, "results", "coverage.json")
TEST_SOURCES = {
    "patterns": os.path.join(REPO, "tests", "lowering", "test_patterns.py"),
    "selection": os.path.join(REPO, "tests", "converters", "test_selection.py"),
}


@dataclass
class Case:
    source: str  # where the model comes from
    build: Callable[[Dict[str, Dict[str, Any]]], Any]  # classes by source -> ExportedProgram
    heavy: bool = False  # skipped by --tiny


def _test_classes(source: str) -> Dict[str, Any]:
    """The ``nn.Module`` classes defined at the top level of a test file, without importing the file."""
    import torch
    import torch.nn.functional as F
    import torchvision
    from torch.export import Dim

    with open(TEST_SOURCES[source]) as handle:
        tree = ast.parse(handle.read(), TEST_SOURCES[source])
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    namespace: Dict[str, Any] = {"torch": torch, "F": F, "math": math, "torchvision": torchvision, "Dim": Dim,
                                 "__name__": f"coverage_{source}"}
    exec(compile(ast.Module(body=classes, type_ignores=[]), TEST_SOURCES[source], "exec"), namespace)
    return {node.name: namespace[node.name] for node in classes}


def _export(module: Any, args: tuple, dynamic: Any) -> Any:
    """``dynamic``: the harness form ({input: {axis: (lo, hi)}}) or raw ``dynamic_shapes``."""
    from trt_dyn.testing.harness import export_dynamic

    if isinstance(dynamic, dict):
        return export_dynamic(module.eval(), args, dynamic)
    return export_dynamic(module.eval(), args, dynamic_shapes=dynamic)


def _randn(*shape: int) -> Any:
    import torch

    return torch.randn(*shape, generator=torch.Generator().manual_seed(sum(shape)))


def _pattern(name: str, args: Callable[[], tuple], dynamic: Any, **kwargs: Any) -> Case:
    return Case("tests/lowering/test_patterns.py",
                lambda classes: _export(classes["patterns"][name](**kwargs), args(), dynamic()))


def _selection(name: str, args: Callable[[], tuple], dynamic: Any, **kwargs: Any) -> Case:
    return Case("tests/converters/test_selection.py",
                lambda classes: _export(classes["selection"][name](**kwargs), args(), dynamic()))


def _auto(*axes: int) -> Callable[[], tuple]:
    def make() -> tuple:
        from torch.export import Dim

        return ({axis: Dim.AUTO for axis in axes},)

    return make


def _named(**ranges: Any) -> Callable[[], tuple]:
    """One input: {axis: Dim(name, lo, hi)} from name=(axis, lo, hi)."""
    def make() -> tuple:
        from torch.export import Dim

        return ({axis: Dim(name, min=lo, max=hi) for name, (axis, lo, hi) in ranges.items()},)

    return make


ROWS = (1, 24)


def _roi_case(pattern_name: str, tiny: bool) -> Case:
    def build(classes: Dict[str, Dict[str, Any]]) -> Any:
        import torch
        import upstream_vs_trt_dyn

        pattern = upstream_vs_trt_dyn.PATTERNS[pattern_name](tiny)
        return torch.export.export(pattern.module, pattern.example_args, dynamic_shapes=pattern.dynamic_shapes)

    return Case("benchmarks/upstream_vs_trt_dyn.py", build)


def _cascade(classes: Dict[str, Dict[str, Any]]) -> Any:
    from trt_dyn.models import build_cascade_mask_rcnn, export_cascade

    return export_cascade(build_cascade_mask_rcnn(seed=0), 256, 768, 16)


def cases(tiny: bool) -> Dict[str, Case]:
    """Name -> case. Example inputs and ranges are those the tests use."""
    import torch

    def fpn_dynamic() -> tuple:
        from torch.export import Dim

        return ({2: Dim("H", min=2, max=64), 3: Dim("W", min=2, max=64)},
                {2: Dim("h", min=1, max=32), 3: Dim("w", min=1, max=32)})

    def pad_boxes_dynamic() -> tuple:
        from torch.export import Dim

        rows = Dim("N", min=1, max=1000)
        return ({0: rows}, {0: rows})

    found = {
        "WindowPartition (ViTDet pad + partition)": _pattern(
            "WindowPartition", lambda: (_randn(2, 20, 30, 8),), _auto(1, 2)),
        "DinoReferencePoints (arange / meshgrid)": _pattern(
            "DinoReferencePoints", lambda: (_randn(2, 4, 10, 13),), _named(H=(2, 1, 64), W=(3, 1, 64))),
        "AnchorGrid (detectron2 anchors)": _pattern(
            "AnchorGrid", lambda: (_randn(1, 8, 12, 17),), _named(H=(2, 2, 100), W=(3, 2, 100))),
        "FpnTopDown (interpolate to other's size)": _pattern(
            "FpnTopDown", lambda: (_randn(1, 4, 20, 26), _randn(1, 4, 10, 13)), fpn_dynamic),
        "TopKMin (k = min(100, N))": _pattern("TopKMin", lambda: (_randn(2, 300),), _auto(1)),
        "DynamicSplit (split H // 2)": _pattern("DynamicSplit", lambda: (_randn(3, 10, 4),), _auto(1)),
        "PadBoxes (new_zeros + repeat + cat)": _pattern(
            "PadBoxes", lambda: (_randn(7, 4), _randn(7)), pad_boxes_dynamic),
        "ViewFamily (view / unflatten / expand_as)": _pattern(
            "ViewFamily", lambda: (_randn(2, 3, 6, 7),), _named(B=(0, 1, 8), H=(2, 2, 32), W=(3, 2, 32))),
        "VitPositions (bicubic abs + rel pos)": _pattern(
            "VitPositions", lambda: (_randn(1, 10, 13, 4),), _auto(1, 2)),
        "SymIntArithmetic (floor/ceil/mod/min/max)": _pattern(
            "SymIntArithmetic", lambda: (_randn(10, 13),), _auto(0, 1)),
        "MaskIndex x[s > 0]": _selection(
            "MaskIndex", lambda: (_randn(8, 5), _randn(8)), lambda: {"x": {0: ROWS}, "s": {0: ROWS}}),
        "FullMaskIndex x[x > 0]": _selection("FullMaskIndex", lambda: (_randn(8, 3),), lambda: {"x": {0: ROWS}}),
        "NonzeroGather x[nonzero(m)]": _selection(
            "NonzeroGather", lambda: (_randn(8, 4), _randn(8)), lambda: {"x": {0: ROWS}, "s": {0: ROWS}}),
        "MaskedIndexPut out[m] = f(x[m])": _selection(
            "MaskedIndexPut", lambda: (_randn(8, 4), _randn(8)), lambda: {"x": {0: ROWS}, "s": {0: ROWS}}),
        "FpnPooler (nonzero + roi_align + index_put)": _selection(
            "FpnPooler", lambda: (_randn(2, 2, 16, 16), _randn(2, 2, 8, 8), torch.rand(6, 4) * 50),
            lambda: {"boxes": {0: ROWS}}),
        "TopK k = min(5, N), dim 0": _selection(
            "TopKMin", lambda: (_randn(9, 3),), lambda: {"x": {0: (2, 24)}}, k=5),
        "NonzeroOfValues (int / float)": _selection(
            "NonzeroOfValues", lambda: (torch.zeros(5, 2, dtype=torch.int32), _randn(5, 3)),
            lambda: {"counts": {0: ROWS}, "x": {0: ROWS}}),
        "roi_align box head, sampling_ratio=2": _roi_case("roi_align_sr2", tiny),
        "roi_align box head, adaptive grid": _roi_case("roi_align_adaptive", tiny),
        "Cascade Mask R-CNN replica (256..768)": Case("trt_dyn.models", _cascade, heavy=True),
    }
    if tiny:
        keep = ("DinoReferencePoints", "TopKMin (k", "NonzeroGather", "roi_align box head, sampling_ratio=2")
        found = {name: case for name, case in found.items() if name.startswith(keep) and not case.heavy}
    return found


def _first_line(error: BaseException) -> str:
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0] if lines else ''}"[:300]


def compile_stats(program: Any, full: bool) -> Dict[str, Any]:
    """One torch_tensorrt compile of ``program`` (engines on the CPU): engines, PyTorch nodes, or the error."""
    from trt_dyn.testing.compile_cpu import compile_cpu

    start = time.perf_counter()
    try:
        compiled = compile_cpu(program, require_full_compilation=full, min_block_size=1)
    except Exception as error:  # noqa: BLE001  (the error is the measurement)
        return {"ok": False, "error": _first_line(error), "seconds": time.perf_counter() - start}
    return {
        "ok": True,
        "engines": compiled.num_trt_engines,
        "pytorch_nodes": len(compiled.pytorch_nodes),
        "pytorch_ops": sorted({node.target for node in compiled.pytorch_nodes}),
        "trt_layers": [engine.num_layers for engine in compiled.engines],
        "seconds": time.perf_counter() - start,
    }


def measure_case(name: str, case: Case, classes: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    row: Dict[str, Any] = {"pattern": name, "source": case.source}
    try:
        program = case.build(classes)
    except Exception as error:  # noqa: BLE001
        row["export_error"] = _first_line(error)
        return row
    row["partitioned"] = compile_stats(program, full=False)
    row["full"] = compile_stats(program, full=True)
    return row


def _assert_no_trt_dyn_registrations() -> None:
    import torch
    from torch_tensorrt.dynamo.conversion._ConverterRegistry import DYNAMO_CONVERTERS

    loaded = [name for name in ("trt_dyn.ops", "trt_dyn.converters", "trt_dyn.lowering") if name in sys.modules]
    loaded += [op for op in torch._C._dispatch_get_all_op_names() if op.startswith("trt_dyn::")][:3]
    if torch.ops.torchvision.roi_align.default in DYNAMO_CONVERTERS:
        loaded.append("a torchvision::roi_align converter")
    if loaded:
        raise RuntimeError(f"upstream worker: trt_dyn registrations are present ({loaded}); the comparison would be void")


def worker(mode: str, tiny: bool, only: Optional[Sequence[str]] = None) -> List[Dict[str, Any]]:
    """Measure every case in ``mode`` ("upstream" in a fresh process, or "trt_dyn")."""
    if mode == "upstream":
        import upstream_vs_trt_dyn

        upstream_vs_trt_dyn._load_without_trt_dyn_registrations()
    else:
        import trt_dyn  # noqa: F401
    import torchvision  # noqa: F401  (roi_align must exist before programs are exported)

    if mode == "upstream":
        _assert_no_trt_dyn_registrations()
    classes = {source: _test_classes(source) for source in TEST_SOURCES}
    rows = []
    for name, case in cases(tiny).items():
        if only and name not in only:
            continue
        row = measure_case(name, case, classes)
        row["stack"] = mode
        rows.append(row)
    if mode == "upstream":
        _assert_no_trt_dyn_registrations()
    return rows


def run_upstream_subprocess(tiny: bool) -> List[Dict[str, Any]]:
    from _common import run_result_worker  # not at module level: the worker process must not import trt_dyn

    command = [sys.executable, os.path.abspath(__file__), "--worker", "upstream"] + (["--tiny"] if tiny else [])
    return run_result_worker(command, "coverage upstream worker", [REPO, HERE], REPO)


def run(tiny: bool = False, trt_dyn_rows: Optional[Dict[str, Dict[str, Any]]] = None) -> Dict[str, Any]:
    """Both stacks: upstream in a subprocess, trt_dyn here. ``trt_dyn_rows`` are rows measured elsewhere
    in this run (the Cascade replica's compile) that replace measuring the same case again."""
    upstream = run_upstream_subprocess(tiny)
    trt_dyn_rows = dict(trt_dyn_rows or {})
    missing = [name for name in cases(tiny) if name not in trt_dyn_rows]
    ours = {row["pattern"]: row for row in worker("trt_dyn", tiny, missing)}
    ours.update(trt_dyn_rows)
    rows = []
    for row in upstream:
        rows.append(row)
        rows.append(dict(ours[row["pattern"]], stack="trt_dyn"))
    return {"rows": rows, "summary": summary(rows)}


def _single_engine(row: Dict[str, Any]) -> bool:
    return bool(row.get("full", {}).get("ok"))


def summary(rows: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    result = {}
    for stack in ("upstream", "trt_dyn"):
        mine = [row for row in rows if row["stack"] == stack]
        result[stack] = {
            "patterns": len(mine),
            "one_engine_full_compilation": sum(_single_engine(row) for row in mine),
            "pytorch_nodes_total": sum(row.get("partitioned", {}).get("pytorch_nodes", 0) for row in mine),
            "engines_total": sum(row.get("partitioned", {}).get("engines", 0) for row in mine),
            "compile_errors": sum(1 for row in mine if not row.get("partitioned", {}).get("ok")),
        }
    return result


def table(result: Dict[str, Any]) -> str:
    from trt_dyn.tables import markdown_table

    rows = []
    for row in result["rows"]:
        part, full = row.get("partitioned", {}), row.get("full", {})
        if "export_error" in row:
            engines, nodes, ops = "-", "-", row["export_error"]
        elif part.get("ok"):
            engines, nodes = part["engines"], part["pytorch_nodes"]
            ops = ", ".join(part["pytorch_ops"]) or "none"
            if len(ops) > 120:
                ops = ops[:117] + "..."
        else:
            engines, nodes, ops = "error", "-", part.get("error", "-")
        if full.get("ok"):
            full_text = "1 engine" if full.get("engines") == 1 else f"{full['engines']} engines"
        else:
            full_text = full.get("error", "-")
        rows.append([row["pattern"], row["stack"], engines, nodes, ops, full_text])
    text = markdown_table(
        ["pattern", "stack", "TRT engines (partitioned)", "nodes left to PyTorch", "ops left to PyTorch",
         "require_full_compilation=True"],
        rows,
    )
    totals = [[stack, s["patterns"], s["one_engine_full_compilation"], s["engines_total"], s["pytorch_nodes_total"],
               s["compile_errors"]] for stack, s in result["summary"].items()]
    return text + "\n\n" + markdown_table(
        ["stack", "patterns", "compile to 1 engine (full)", "engines (partitioned, total)",
         "nodes left to PyTorch (total)", "partitioned compile errors"],
        totals,
    )


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="four small patterns, no Cascade replica")
    parser.add_argument("--json", default=DEFAULT_JSON)
    parser.add_argument("--worker", choices=["upstream", "trt_dyn"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print("RESULT " + json.dumps(worker(args.worker, args.tiny), default=str))
        return 0
    from _common import publish

    result = run(args.tiny)
    publish(table(result), args.json, {"tiny": args.tiny, "result": result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
