"""Build once for all shapes vs rebuild per shape.

For K image sizes, the total time of K static-shape builds (export + convert + build at each size) is compared with
one dynamic build covering all of them. The ratio is taken in one run so it survives a noisy machine. The small
model builds through :func:`trt_dyn.build.build_engine`; the Cascade Mask R-CNN replica compiles through
:func:`trt_dyn.testing.compile_cpu` (``require_full_compilation=True``, one engine), exported statically per size
and once with :func:`trt_dyn.models.export_cascade` for the dynamic engine.

    python benchmarks/build_once.py [--model small|cascade] [--count K] [--repeats R]
    python benchmarks/build_once.py --phases            # one static vs one dynamic Cascade compile, per phase
    python benchmarks/build_once.py --decomposition-ops # run_decompositions CPU per aten op, static vs dynamic
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch.export import Dim

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from _common import markdown_table, timed  # noqa: E402
from trt_dyn.build import build_engine  # noqa: E402


class ConvPyramid(torch.nn.Module):
    """A small dynamic-image model (backbone + FPN-style upsample-add) for the tiny configuration."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = torch.nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.c2 = torch.nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.lateral = torch.nn.Conv2d(16, 32, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        f1 = torch.relu(self.c1(images))
        f2 = torch.relu(self.c2(f1))
        return self.lateral(f1) + torch.nn.functional.interpolate(f2, scale_factor=2.0, mode="nearest")


def _small_sizes(count: int, lo: int = 64, hi: int = 256, step: int = 32) -> List[int]:
    return [lo + step * ((i * ((hi - lo) // step)) // max(1, count - 1)) for i in range(count)]


def _static_build(model: torch.nn.Module, size: int) -> None:
    example = torch.randn(1, 3, size, size)
    build_engine(torch.export.export(model, (example,)))


def _dynamic_build(model: torch.nn.Module, lo: int, hi: int, example_size: int) -> None:
    example = torch.randn(1, 3, example_size, example_size)
    # The pyramid needs sizes divisible by its total stride (4).
    dims = {2: 4 * Dim("h4", min=lo // 4, max=hi // 4), 3: 4 * Dim("w4", min=lo // 4, max=hi // 4)}
    build_engine(torch.export.export(model, (example,), dynamic_shapes=(dims,)))


def _result(model_name: str, sizes: Sequence[int], repeats: int, static: Tuple[float, List[float]],
            dynamic: Tuple[float, List[float]], **extra: Any) -> Dict[str, Any]:
    return {
        "model": model_name,
        "sizes": list(sizes),
        "repeats": repeats,
        "static_total_s": static[0],
        "static_samples_s": static[1],
        "dynamic_s": dynamic[0],
        "dynamic_samples_s": dynamic[1],
        "ratio_static_over_dynamic": static[0] / dynamic[0],
        # issue 16's goal (<= 1.25): one dynamic build against one static build (the mean over the K sizes)
        "ratio_dynamic_over_one_static": dynamic[0] / (static[0] / len(sizes)),
        "loadavg": list(os.getloadavg()),
        **extra,
    }


def run_small(count: int = 5, repeats: int = 3, lo: int = 64, hi: int = 256) -> Dict[str, Any]:
    """K static builds vs one dynamic build of :class:`ConvPyramid` (export + convert + build each)."""
    torch.manual_seed(0)
    model = ConvPyramid().eval()
    sizes = _small_sizes(count, lo, hi)
    static_seconds, static_samples, _ = timed(lambda: [_static_build(model, size) for size in sizes], repeats)
    dynamic_seconds, dynamic_samples, _ = timed(
        lambda: _dynamic_build(model, lo, hi, sizes[len(sizes) // 2]), repeats
    )
    return _result("small (conv pyramid)", sizes, repeats, (static_seconds, static_samples),
                   (dynamic_seconds, dynamic_samples))


def compile_cascade_static(model: torch.nn.Module, size: int) -> Any:
    """Export the replica at one image size and compile it to one engine (TensorRT builds on the CPU)."""
    from trt_dyn.testing import compile_cpu

    example = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(size)) * 255
    with torch.no_grad():
        program = torch.export.export(model, (example,))
    return compile_cpu(program, require_full_compilation=True, min_block_size=1)


def compile_cascade_dynamic(model: torch.nn.Module, lo: int, hi: int, step: int) -> Tuple[Any, Any, float]:
    """(exported program, compiled module, export seconds) for the replica with H, W dynamic in [lo, hi]."""
    from trt_dyn.models import export_cascade
    from trt_dyn.testing import compile_cpu

    start = time.perf_counter()
    program = export_cascade(model, lo, hi, step)
    export_seconds = time.perf_counter() - start
    return program, compile_cpu(program, require_full_compilation=True, min_block_size=1), export_seconds


def run_cascade(count: int = 5, repeats: int = 3, dynamic: Optional[Callable[[], Tuple[float, Any]]] = None,
                budget_s: Optional[float] = None) -> Dict[str, Any]:
    """K static compiles of the Cascade replica vs one dynamic compile (export + compile each, 1 engine).

    ``dynamic``: a function doing the dynamic export + compile once and returning (seconds, anything);
    the default exports and compiles here. Each round does the K static compiles and the dynamic one
    (alternating which side goes first), so a load change on a shared machine hits both sides.
    ``budget_s``: start no further round once another would end past this many seconds; the rounds
    actually done are recorded as ``repeats`` (``repeats_requested`` is what was asked).
    """
    from trt_dyn.models import cascade_benchmark_model

    model, sizes, lo, hi, step = cascade_benchmark_model(count)
    if dynamic is None:
        def dynamic() -> Tuple[float, Any]:
            start = time.perf_counter()
            compile_cascade_dynamic(model, lo, hi, step)
            return time.perf_counter() - start, None

    static_samples: List[float] = []
    dynamic_samples: List[float] = []
    per_size: Dict[int, List[float]] = {size: [] for size in sizes}
    began = time.perf_counter()
    for round_index in range(max(1, repeats)):
        if round_index and budget_s is not None:
            elapsed = time.perf_counter() - began
            if elapsed + elapsed / round_index > budget_s:
                break
        if round_index % 2:
            dynamic_samples.append(dynamic()[0])
        total = 0.0
        for size in sizes:
            start = time.perf_counter()
            compile_cascade_static(model, size)
            per_size[size].append(time.perf_counter() - start)
            total += per_size[size][-1]
        static_samples.append(total)
        if not round_index % 2:
            dynamic_samples.append(dynamic()[0])
    return _result(
        "Cascade Mask R-CNN replica", sizes, len(static_samples),
        (statistics.median(static_samples), static_samples), (statistics.median(dynamic_samples), dynamic_samples),
        static_per_size_s={str(size): statistics.median(samples) for size, samples in per_size.items()},
        dynamic_range=[lo, hi, step],
        repeats_requested=repeats,
        budget_s=budget_s,
    )


def _phases_of_one_compile(compile_one: Callable[[], Tuple[Any, Any]]) -> Dict[str, Any]:
    """Wall and CPU seconds of each phase of one export + compile, the network's layers per type.

    ``compile_one`` exports and compiles, returning (export (wall s, CPU s), compiled module). CPU time (this
    process, all threads) is the figure to compare on a loaded machine; wall time is recorded beside it.
    """
    import collections

    import lowering_cost
    from trt_dyn.build import BuildProgress, report_progress

    decompose = torch.export.ExportedProgram.run_decompositions
    decompositions: List[Tuple[float, float]] = []
    builder_start: List[Tuple[float, float]] = []
    began, began_cpu = time.perf_counter(), time.process_time()

    def timed_decompose(self: Any, *args: Any, **kwargs: Any) -> Any:
        start, start_cpu = time.perf_counter(), time.process_time()
        try:
            return decompose(self, *args, **kwargs)
        finally:
            decompositions.append((time.perf_counter() - start, time.process_time() - start_cpu))

    def line(text: str) -> None:
        if "TensorRT builder: Building engine (" in text:
            builder_start.append((time.perf_counter(), time.process_time()))

    torch.export.ExportedProgram.run_decompositions = timed_decompose  # type: ignore[method-assign]
    try:
        with lowering_cost.timed_post_lowering_passes() as passes, report_progress(BuildProgress(write=line)):
            export, compiled = compile_one()
            ended, ended_cpu = time.perf_counter(), time.process_time()
    finally:
        torch.export.ExportedProgram.run_decompositions = decompose  # type: ignore[method-assign]
    (engine,) = compiled.engines
    network = engine.network
    types = collections.Counter(str(network.get_layer(i).type).rsplit(".", 1)[-1] for i in range(network.num_layers))
    builder = (ended - builder_start[0][0], ended_cpu - builder_start[0][1]) if builder_start else (None, None)
    return {
        "total_s": ended - began, "total_cpu_s": ended_cpu - began_cpu,
        "export_s": export[0], "export_cpu_s": export[1],
        "decompositions_s": sum(w for w, _ in decompositions), "decompositions_cpu_s": sum(c for _, c in decompositions),
        "post_lowering_passes_s": dict(passes), "convert_s": engine.convert_seconds,
        "tensorrt_builder_s": builder[0], "tensorrt_builder_cpu_s": builder[1],
        "layers": network.num_layers, "layer_types": dict(types.most_common()),
        "engine_bytes": len(engine.serialized_engine), "loadavg": list(os.getloadavg()),
    }


def cascade_phases(static_size: int = 512) -> Dict[str, Any]:
    """One static compile of the Cascade replica (at ``static_size``) and one dynamic compile, phase by phase."""
    from trt_dyn.models import cascade_benchmark_model, export_cascade
    from trt_dyn.testing import compile_cpu

    model, _, lo, hi, step = cascade_benchmark_model(1)

    def timed_export(export: Callable[[], Any]) -> Tuple[Tuple[float, float], Any]:
        start, start_cpu = time.perf_counter(), time.process_time()
        program = export()
        return (time.perf_counter() - start, time.process_time() - start_cpu), program

    def static() -> Tuple[Any, Any]:
        example = torch.rand(1, 3, static_size, static_size, generator=torch.Generator().manual_seed(0)) * 255
        with torch.no_grad():
            seconds, program = timed_export(lambda: torch.export.export(model, (example,)))
        return seconds, compile_cpu(program, require_full_compilation=True, min_block_size=1)

    def dynamic() -> Tuple[Any, Any]:
        seconds, program = timed_export(lambda: export_cascade(model, lo, hi, step))
        return seconds, compile_cpu(program, require_full_compilation=True, min_block_size=1)

    one_static, one_dynamic = _phases_of_one_compile(static), _phases_of_one_compile(dynamic)
    return {"static_size": static_size, "dynamic_range": [lo, hi, step], "static": one_static, "dynamic": one_dynamic,
            "dynamic_over_static_cpu": one_dynamic["total_cpu_s"] / one_static["total_cpu_s"],
            "dynamic_over_static_wall": one_dynamic["total_s"] / one_static["total_s"]}


def _decomposition_cost_by_op(program: Any) -> Dict[str, Any]:
    """CPU seconds of one ``run_decompositions`` (torch_tensorrt's table), per aten op of the traced graph.

    The decomposition retraces the program node by node through ``torch.fx.Interpreter.run_node`` (twice: AOT
    autograd's metadata pass, then its graph capture); each node's CPU time (fake-tensor propagation, symbolic shape
    reasoning, its decomposition) is added to its target. The rest of ``total_cpu_s`` is set-up and code generation.
    """
    from trt_dyn._hooks import decompositions

    run_node = torch.fx.Interpreter.run_node
    by_op: Dict[str, List[float]] = {}

    def timed_run_node(self: Any, node: torch.fx.Node) -> Any:
        start = time.process_time()
        try:
            return run_node(self, node)
        finally:
            entry = by_op.setdefault(str(node.target), [0, 0.0])
            entry[0] += 1
            entry[1] += time.process_time() - start

    table = decompositions()
    torch.fx.Interpreter.run_node = timed_run_node  # type: ignore[method-assign]
    start = time.process_time()
    try:
        program.run_decompositions(table)
    finally:
        torch.fx.Interpreter.run_node = run_node  # type: ignore[method-assign]
    return {"total_cpu_s": time.process_time() - start, "in_nodes_cpu_s": sum(s for _, s in by_op.values()),
            "by_op": {op: {"node_runs": count, "cpu_s": seconds} for op, (count, seconds) in by_op.items()}}


def decomposition_cost(static_size: int = 512) -> Dict[str, Any]:
    """Where ``run_decompositions`` spends the dynamic build's extra CPU: per aten op, static vs dynamic program.

    Each side is exported in this process (static at ``static_size``, dynamic with ``export_cascade``) and decomposed
    once, as the compile does; ``extra_by_op`` lists dynamic minus static CPU seconds per op, largest first.
    """
    from trt_dyn.models import cascade_benchmark_model, export_cascade

    model, _, lo, hi, step = cascade_benchmark_model(1)
    example = torch.rand(1, 3, static_size, static_size, generator=torch.Generator().manual_seed(0)) * 255
    with torch.no_grad():
        static = _decomposition_cost_by_op(torch.export.export(model, (example,)))
    dynamic = _decomposition_cost_by_op(export_cascade(model, lo, hi, step))
    ops = set(static["by_op"]) | set(dynamic["by_op"])

    def seconds(side: Dict[str, Any], op: str) -> float:
        return side["by_op"].get(op, {}).get("cpu_s", 0.0)

    extra = sorted(((op, seconds(dynamic, op) - seconds(static, op)) for op in ops), key=lambda item: -item[1])
    return {"static_size": static_size, "dynamic_range": [lo, hi, step], "static": static, "dynamic": dynamic,
            "extra_by_op": dict(extra), "loadavg": list(os.getloadavg())}


def decomposition_cost_table(result: Dict[str, Any], top: int = 12) -> str:
    static, dynamic = result["static"], result["dynamic"]
    rows = []
    for op, extra in list(result["extra_by_op"].items())[:top]:
        runs = dynamic["by_op"].get(op, {}).get("node_runs", 0)
        rows.append([op, runs, static["by_op"].get(op, {}).get("cpu_s", 0.0),
                     dynamic["by_op"].get(op, {}).get("cpu_s", 0.0), extra])
    rows.append(["all nodes", sum(v["node_runs"] for v in dynamic["by_op"].values()), static["in_nodes_cpu_s"],
                 dynamic["in_nodes_cpu_s"], dynamic["in_nodes_cpu_s"] - static["in_nodes_cpu_s"]])
    rows.append(["run_decompositions", "", static["total_cpu_s"], dynamic["total_cpu_s"],
                 dynamic["total_cpu_s"] - static["total_cpu_s"]])
    return markdown_table(["aten op (node runs, dynamic)", "runs", f"static {result['static_size']} CPU s",
                           "dynamic CPU s", "extra CPU s"], rows) + (
        f"\n\nOne run_decompositions each (torch_tensorrt's table), CPU seconds per op of the retraced graph; "
        f"load average {result['loadavg'][0]:.1f}.")


def phases_table(result: Dict[str, Any]) -> str:
    static, dynamic = result["static"], result["dynamic"]

    def passes(record: Dict[str, Any]) -> float:
        return sum(record["post_lowering_passes_s"].values())

    rows = [
        ["export (CPU s)", static["export_cpu_s"], dynamic["export_cpu_s"]],
        ["run_decompositions (CPU s)", static["decompositions_cpu_s"], dynamic["decompositions_cpu_s"]],
        ["post-lowering passes (wall s)", passes(static), passes(dynamic)],
        ["FX -> TensorRT conversion (wall s)", static["convert_s"], dynamic["convert_s"]],
        ["TensorRT builder (CPU s)", static["tensorrt_builder_cpu_s"], dynamic["tensorrt_builder_cpu_s"]],
        ["export + compile (CPU s)", static["total_cpu_s"], dynamic["total_cpu_s"]],
        ["export + compile (wall s)", static["total_s"], dynamic["total_s"]],
        ["network layers", static["layers"], dynamic["layers"]],
    ]
    for row in rows:
        row.append(row[2] / row[1] if row[1] else float("nan"))
    return markdown_table(["phase", f"static {result['static_size']}", "dynamic", "dynamic / static"], rows) + (
        f"\n\nOne dynamic / one static build: {result['dynamic_over_static_cpu']:.2f} in CPU time, "
        f"{result['dynamic_over_static_wall']:.2f} in wall time (goal <= 1.25); load average "
        f"{static['loadavg'][0]:.1f} / {dynamic['loadavg'][0]:.1f}.")


def run(model_name: str = "small", count: int = 5, repeats: int = 3) -> Dict[str, Any]:
    if model_name == "cascade":
        return run_cascade(count, repeats)
    return run_small(count, repeats)


def table(results: Any) -> str:
    results = [results] if isinstance(results, dict) else list(results)
    return markdown_table(
        ["model", "K image sizes", "K static builds, total (s)", "1 dynamic build (s)", "static / dynamic",
         "1 dynamic / 1 static", "repeats"],
        [[
            r["model"], ", ".join(map(str, r["sizes"])), r["static_total_s"], r["dynamic_s"],
            r["ratio_static_over_dynamic"], r.get("ratio_dynamic_over_one_static", float("nan")), r["repeats"],
        ] for r in results],
    ) + "\n\n1 dynamic / 1 static: one dynamic build over the mean of one static build (goal <= 1.25 on the Cascade replica)."


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="small", choices=["small", "cascade"])
    parser.add_argument("--count", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--phases", action="store_true",
                        help="one static vs one dynamic Cascade compile, phase by phase (CPU and wall time, layers)")
    parser.add_argument("--decomposition-ops", action="store_true",
                        help="run_decompositions of the static and the dynamic Cascade program, CPU seconds per aten op")
    parser.add_argument("--json", default=None, help="also write the result here (with the machine record)")
    args = parser.parse_args()
    if args.decomposition_ops:
        result = decomposition_cost()
        text = decomposition_cost_table(result)
    else:
        result = cascade_phases() if args.phases else run(args.model, args.count, args.repeats)
        text = phases_table(result) if args.phases else table(result)
    if args.json:
        from _common import publish

        publish(text, args.json, result)
    else:
        print(text)
