"""The main demo: Cascade Mask R-CNN (ViTDet replica) with dynamic image size -> ONE TensorRT engine, built on the CPU.

``./dev demo`` (or ``python -m trt_dyn.demo``):

1. builds the in-repo replica (``trt_dyn.models``) and exports it with dynamic image height and width;
2. measures what torch_tensorrt does with it *alone* (a subprocess that never imports trt_dyn's registrations);
3. compiles it with trt_dyn and ``require_full_compilation=True`` into one engine, built on the CPU by TensorRT-RTX,
   showing conversion and builder progress;
4. runs the built network with the CPU reference executor at several image sizes and compares with eager PyTorch;
5. prints the tables and saves the engine and a JSON summary to ``out/``.

``--small`` runs the foundation demo instead (a conv stem with dynamic batch and image size).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Dict, List, Sequence, Tuple

import torch
from torch.export import Dim

import trt_dyn
from trt_dyn.build import build_engine, report_progress
from trt_dyn.tables import markdown_table

MIN_HW, MAX_HW, STEP = 256, 768, 16
#: min, max, opt, and sizes off the square / off the powers of two
EVALUATION_SIZES: Tuple[Tuple[int, int], ...] = ((256, 256), (768, 768), (512, 528), (336, 592), (720, 304))


class SmallDetectorStem(torch.nn.Module):
    """A conv stem with a dynamic batch and dynamic image size (the foundation demo's model)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.conv2 = torch.nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.head = torch.nn.Linear(32, 10)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = torch.relu(self.conv2(torch.relu(self.conv1(images))))
        return self.head(features.mean(dim=(2, 3)))


def run_small_demo(out_dir: str) -> Dict[str, Any]:
    torch.manual_seed(0)
    model = SmallDetectorStem().eval()
    example = torch.randn(2, 3, 64, 96)
    dims = {0: Dim("batch", min=1, max=8), 2: Dim("height", min=32, max=256), 3: Dim("width", min=32, max=256)}
    program = torch.export.export(model, (example,), dynamic_shapes=(dims,))
    with report_progress():
        built = build_engine(program)
    engine_path = os.path.join(out_dir, "demo_small.engine")
    built.save(engine_path)
    (lo, opt, hi), = built.profiles[0].values()
    summary = {
        "model": type(model).__name__,
        "graph_nodes": len(program.graph.nodes),
        "trt_engines": 1,
        "engine_bytes": len(built.serialized_engine),
        "trt_layers": built.num_layers,
        "build_seconds": round(built.build_seconds, 2),
        "profile": {"min": lo, "opt": opt, "max": hi},
        "engine_path": engine_path,
        "flavor": trt_dyn.FLAVOR,
    }
    print(markdown_table(
        ["model", "graph nodes", "TRT engines", "engine bytes", "TRT layers", "build s", "profile min / opt / max"],
        [[summary["model"], summary["graph_nodes"], 1, summary["engine_bytes"], summary["trt_layers"],
          summary["build_seconds"], f"{lo} / {opt} / {hi}"]],
    ))
    return summary


def _errors(expected: torch.Tensor, actual: torch.Tensor) -> Tuple[float, float]:
    expected, actual = expected.double(), actual.double()
    if expected.shape != actual.shape:
        raise AssertionError(f"shape {tuple(actual.shape)} differs from eager's {tuple(expected.shape)}")
    if expected.numel() == 0:
        return 0.0, 0.0
    absolute = (expected - actual).abs().max().item()
    relative = absolute / max(expected.abs().max().item(), 1e-12)
    return absolute, relative


def _count_ops(program: torch.export.ExportedProgram) -> int:
    return sum(1 for node in program.graph.nodes if node.op == "call_function")


def run_cascade_demo(out_dir: str, sizes: Sequence[Tuple[int, int]], measure_upstream: bool) -> Dict[str, Any]:
    from trt_dyn.models import build_cascade_mask_rcnn, export_cascade
    from trt_dyn.testing import compile_cpu
    from trt_dyn.testing.upstream import measure_upstream as upstream_alone

    print(f"[1/5] building the Cascade Mask R-CNN replica and exporting it with H, W in [{MIN_HW}, {MAX_HW}]")
    model = build_cascade_mask_rcnn(seed=0)
    start = time.perf_counter()
    program = export_cascade(model, MIN_HW, MAX_HW, STEP)
    export_seconds = time.perf_counter() - start
    spec = {"min": (1, 3, MIN_HW, MIN_HW), "opt": (1, 3, 512, 528), "max": (1, 3, MAX_HW, MAX_HW)}

    print("[2/5] trt_dyn.report on the exported program")
    report = trt_dyn.report(program)
    print(f"  symbolic uses without a dyn variant: {len(report.missing)}; planned dyn rewrites: "
          f"{sum(report.rewritten.values())}")
    if report.missing:
        print(report)

    upstream: Dict[str, Any] = {"skipped": True}
    if measure_upstream:
        print("[3/5] torch_tensorrt alone on the same program (subprocess, no trt_dyn registrations)")
        upstream = upstream_alone(program, [spec])
    else:
        print("[3/5] upstream measurement skipped (--no-upstream)")

    print("[4/5] compiling with trt_dyn, require_full_compilation=True (engine built on the CPU)")
    start = time.perf_counter()
    with report_progress():
        compiled = compile_cpu(program, [spec], require_full_compilation=True, min_block_size=1)
    compile_seconds = time.perf_counter() - start
    engine_path = os.path.join(out_dir, "cascade_mask_rcnn.engine")
    (engine,) = compiled.engines
    engine.save(engine_path)

    print(f"[5/5] reference executor vs eager at {len(sizes)} image sizes")
    output_names = ("boxes", "scores", "classes", "masks")
    accuracy: List[Dict[str, Any]] = []
    generator = torch.Generator().manual_seed(1234)
    for height, width in sizes:
        images = torch.rand(1, 3, height, width, generator=generator) * 255
        with torch.no_grad():
            expected = model(images)
        start = time.perf_counter()
        actual = compiled(images)
        seconds = time.perf_counter() - start
        for name, want, got in zip(output_names, expected, actual):
            absolute, relative = _errors(want, got)
            accuracy.append({"size": f"{height}x{width}", "output": name, "shape": list(got.shape),
                             "max_abs_error": absolute, "max_rel_error": relative, "executor_seconds": seconds})

    summary = {
        "model": "Cascade Mask R-CNN replica (ViTDet)",
        "flavor": trt_dyn.FLAVOR,
        "graph_ops": _count_ops(program),
        "dyn_rewrites": dict(sorted(report.rewritten.items())),
        "missing_dyn_variants": [str(entry.op) for entry in report.missing],
        "export_seconds": export_seconds,
        "compile_seconds": compile_seconds,
        "build_seconds": engine.build_seconds,
        "convert_seconds": engine.convert_seconds,
        "trt_dyn": {"engines": compiled.num_trt_engines, "pytorch_nodes": [str(n) for n in compiled.pytorch_nodes],
                    "trt_layers": engine.num_layers, "engine_bytes": len(engine.serialized_engine)},
        "upstream": upstream,
        "profile": {"min": spec["min"], "opt": spec["opt"], "max": spec["max"]},
        "accuracy": accuracy,
        "engine_path": engine_path,
    }
    _print_cascade_tables(summary)
    return summary


def _upstream_cell(result: Dict[str, Any], key: str) -> str:
    if result.get("skipped"):
        return "not measured"
    part = result[key]
    text = part["error"] if not part["ok"] else (
        f"{part['engines']} engines, {part['pytorch_nodes']} nodes left to PyTorch")
    if part.get("unsupported_ops"):
        text += "; no converter: " + ", ".join(f"{op} x{n}" for op, n in part["unsupported_ops"].items())
    return text


def _print_cascade_tables(summary: Dict[str, Any]) -> None:
    ours = summary["trt_dyn"]
    upstream = summary["upstream"]
    print()
    print(markdown_table(
        ["", "torch_tensorrt alone", "torch_tensorrt + trt_dyn"],
        [
            ["require_full_compilation=False", _upstream_cell(upstream, "partitioned"), "-"],
            ["require_full_compilation=True", _upstream_cell(upstream, "full_compilation"),
             f"{ours['engines']} engine, {len(ours['pytorch_nodes'])} nodes left to PyTorch"],
        ],
    ))
    print()
    rewrites = sum(summary["dyn_rewrites"].values())
    print(markdown_table(
        ["graph ops", "dyn rewrites", "TRT engines", "TRT layers", "engine bytes", "convert s", "build s",
         "compile s (total)", "profile min / opt / max"],
        [[summary["graph_ops"], rewrites, ours["engines"], ours["trt_layers"], ours["engine_bytes"],
          round(summary["convert_seconds"], 1), round(summary["build_seconds"] - summary["convert_seconds"], 1),
          round(summary["compile_seconds"], 1),
          f"{summary['profile']['min']} / {summary['profile']['opt']} / {summary['profile']['max']}"]],
    ))
    print()
    print(markdown_table(
        ["image size", "output", "shape", "max abs error", "max rel error", "executor s"],
        [[row["size"], row["output"], tuple(row["shape"]), f"{row['max_abs_error']:.2e}",
          f"{row['max_rel_error']:.2e}", round(row["executor_seconds"], 2)] for row in summary["accuracy"]],
    ))
    print()
    print("dyn rewrites by op: " + ", ".join(f"{op} x{count}" for op, count in summary["dyn_rewrites"].items()))


def main(argv: Sequence[str] = ()) -> Dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="out", help="directory for the engine and the JSON summary")
    parser.add_argument("--small", action="store_true", help="the foundation demo (a small conv stem) instead")
    parser.add_argument("--no-upstream", action="store_true", help="skip measuring torch_tensorrt alone")
    args = parser.parse_args(list(argv))
    os.makedirs(args.out, exist_ok=True)
    if args.small:
        summary = run_small_demo(args.out)
        json_path = os.path.join(args.out, "demo_small_summary.json")
    else:
        summary = run_cascade_demo(args.out, EVALUATION_SIZES, measure_upstream=not args.no_upstream)
        json_path = os.path.join(args.out, "demo_summary.json")
    with open(json_path, "w") as handle:
        json.dump(summary, handle, indent=2, default=str)
    print(f"\nengine: {summary['engine_path']}  summary: {json_path}")
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])
