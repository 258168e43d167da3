"""Cost of the static -> dyn lowering pass (`trt_dyn.lower`) as graphs grow.

A block of real dynamic-shape patterns (token flatten / view back to H x W, FPN-style resize to another tensor's size,
new_zeros + cat padding, expand_as) is exported once with dynamic H and W; synthetic graphs of ~1k to ~50k nodes chain
copies of that block's aten graph. The pass is timed on a fresh copy each repeat; time per node must stay flat
(goal: <= 40 µs per node, issue 16). torch.fx's code generation of the lowered graph is deferred to the module's first
use; it is timed on its own after each size ("codegen paid at first use") and added in the last CPU column.

Each row records wall and CPU (this process) time and the load average: on a shared machine the wall figure is
inflated by other processes, so ``--rounds N`` repeats the whole measurement and keeps, per size, the round with
the smallest median (the quietest). ``--profile`` runs cProfile over one ``lower()`` of the largest graph and
prints the top functions. ``--report-share`` times ``trt_dyn.report`` against one compile of the Cascade replica
(with ``--profile``: and prints the report's profile).

    python benchmarks/lowering_cost.py [--sizes N ...] [--repeats R] [--rounds K] [--profile] [--json PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import cProfile
import functools
import io
import os
import pstats
import time
from typing import Any, Callable, Dict, Iterator, List, Sequence

import torch
import torch.nn.functional as F
from torch.export import Dim

from _common import markdown_table, timed
import trt_dyn
from trt_dyn.lowering.toolbox import code_generation_pending


class PatternBlock(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        tokens = x.flatten(2).transpose(1, 2)
        grid = tokens.reshape(batch, height, width, channels).permute(0, 3, 1, 2)
        coarse = grid[:, :, ::2, ::2]
        resized = F.interpolate(coarse, size=x.shape[-2:], mode="nearest")
        column = x.new_zeros(batch, channels, height, 1)
        padded = torch.cat([resized, column], dim=3)[:, :, :, :width]
        bias = x.mean(dim=(2, 3), keepdim=True).expand_as(x)
        return padded + bias


def block_graph() -> torch.fx.GraphModule:
    example = torch.randn(1, 4, 24, 20)
    dims = {2: Dim("h", min=8, max=256), 3: Dim("w", min=8, max=256)}
    program = torch.export.export(PatternBlock(), (example,), dynamic_shapes=(dims,))
    return program.run_decompositions({}).graph_module


def chained(block: torch.fx.GraphModule, min_nodes: int) -> torch.fx.GraphModule:
    """A graph of at least ``min_nodes`` nodes made of copies of ``block`` fed one into the next."""
    placeholder = next(node for node in block.graph.nodes if node.op == "placeholder")
    (block_output,) = next(node for node in block.graph.nodes if node.op == "output").args[0]
    body = [node for node in block.graph.nodes if node.op not in ("placeholder", "output")]
    graph = torch.fx.Graph()
    current = graph.placeholder(placeholder.name)
    current.meta = copy.copy(placeholder.meta)
    while len(graph.nodes) < min_nodes:
        mapping = {placeholder: current}
        for node in body:
            mapping[node] = graph.node_copy(node, lambda n: mapping[n])
        current = mapping[block_output]
    graph.output((current,))
    return torch.fx.GraphModule(torch.nn.Module(), graph)


GOAL_US_PER_NODE = 40.0


def _measure(block: torch.fx.GraphModule, size: int, repeats: int) -> Dict[str, Any]:
    template = chained(block, size)
    nodes = len(template.graph.nodes)
    copies = [copy.deepcopy(template) for _ in range(repeats)]
    pending = iter(copies)
    cpu_samples: List[float] = []

    def lower_one() -> torch.fx.GraphModule:
        start = time.process_time()
        try:
            return trt_dyn.lower(next(pending))
        finally:
            cpu_samples.append(time.process_time() - start)

    load = os.getloadavg()
    seconds, samples, lowered = timed(lower_one, repeats)
    remaining_sym = sum(
        1 for node in lowered.graph.nodes if node.op == "call_function" and node.target is torch.ops.aten.sym_size.int
    )
    cpu_seconds = sorted(cpu_samples)[len(cpu_samples) // 2]
    # torch.fx's code generation of the lowered graph is left to the module's first use
    # (trt_dyn.lowering.toolbox.generate_code_on_first_use): paid here, timed on its own, so the table says what a
    # caller who runs the lowered module (rather than handing it to torch_tensorrt's partitioner) pays on top
    deferred = code_generation_pending(lowered)
    start = time.process_time()
    lowered.recompile()
    codegen_seconds = time.process_time() - start
    return {
        "nodes": nodes, "median_s": seconds, "samples_s": samples,
        "us_per_node": 1e6 * seconds / nodes, "cpu_us_per_node": 1e6 * cpu_seconds / nodes, "cpu_samples_s": cpu_samples,
        "codegen_deferred": deferred, "codegen_cpu_us_per_node": 1e6 * codegen_seconds / nodes,
        "cpu_us_per_node_with_first_use_codegen":
            1e6 * (cpu_seconds + (codegen_seconds if deferred else 0.0)) / nodes,
        "sym_size_nodes_left": remaining_sym, "nodes_after": len(lowered.graph.nodes),
        "node_delta": len(lowered.graph.nodes) - nodes, "loadavg_before": list(load), "loadavg_after": list(os.getloadavg()),
    }


def run(sizes: Sequence[int] = (1_000, 5_000, 10_000, 50_000), repeats: int = 3, rounds: int = 1) -> Dict[str, Any]:
    """Median ``lower()`` time per size; with ``rounds`` > 1 the round with the smallest median is kept per size
    (all rounds' medians are recorded), so the figure is the quietest moment of a shared machine."""
    block = block_graph()
    # first-call costs (op lookups, dispatcher caches) would land on the smallest graph and fake the spread
    trt_dyn.lower(chained(block, 200))
    rows: List[Dict[str, Any]] = []
    for size in sizes:
        measured = [_measure(block, size, repeats) for _ in range(max(1, rounds))]
        best = dict(min(measured, key=lambda row: row["median_s"]))
        best["round_medians_s"] = [row["median_s"] for row in measured]
        rows.append(best)
    per_node = [row["us_per_node"] for row in rows]
    return {"rows": rows, "per_node_spread": max(per_node) / min(per_node), "repeats": repeats, "rounds": rounds,
            "goal_us_per_node": GOAL_US_PER_NODE, "meets_goal": max(per_node) <= GOAL_US_PER_NODE,
            "meets_goal_cpu": max(row["cpu_us_per_node"] for row in rows) <= GOAL_US_PER_NODE,
            "meets_goal_cpu_with_first_use_codegen":
                max(row["cpu_us_per_node_with_first_use_codegen"] for row in rows) <= GOAL_US_PER_NODE}


def profile(size: int, top: int = 30) -> str:
    """cProfile of one ``lower()`` of a ``size``-node chained graph: the top functions by own and cumulative time."""
    block = block_graph()
    trt_dyn.lower(chained(block, 200))
    graph = chained(block, size)
    profiler = cProfile.Profile()
    profiler.enable()
    trt_dyn.lower(graph)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    for order in ("tottime", "cumulative"):
        stats.sort_stats(order).print_stats(top)
    return out.getvalue()


@contextlib.contextmanager
def timed_post_lowering_passes() -> Iterator[Dict[str, float]]:
    """Time every pass of torch_tensorrt's post-lowering pipeline while the block runs.

    Yields {pass name: seconds, summed over calls}; trt_dyn's passes keep their own names, upstream's
    are summed under ``upstream post-lowering passes``. The pass list is restored afterwards.
    """
    from trt_dyn.lowering import pipeline

    passes = pipeline._upstream_pass_list()
    ours = {pipeline._key(fn) for fn in pipeline.PASSES}
    seconds: Dict[str, float] = {}

    def timing(fn: Callable, name: str) -> Callable:
        @functools.wraps(fn)
        def timed_pass(gm: torch.fx.GraphModule, settings: Any = None) -> torch.fx.GraphModule:
            start = time.perf_counter()
            try:
                return fn(gm, settings)
            finally:
                seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start

        return timed_pass

    saved = list(passes)
    passes[:] = [
        timing(fn, fn.__name__ if pipeline._key(fn) in ours else "upstream post-lowering passes") for fn in passes
    ]
    try:
        yield seconds
    finally:
        passes[:] = saved


@contextlib.contextmanager
def timed_decompositions() -> Iterator[Dict[str, float]]:
    """CPU seconds spent in ``ExportedProgram.run_decompositions`` while the block runs (``{"cpu_s": ...}``): a
    compile decomposes the program once, and so must a report that speaks of the graph the compile sees."""
    spent = {"cpu_s": 0.0}
    original = torch.export.ExportedProgram.run_decompositions

    @functools.wraps(original)
    def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        start = time.process_time()
        try:
            return original(self, *args, **kwargs)
        finally:
            spent["cpu_s"] += time.process_time() - start

    torch.export.ExportedProgram.run_decompositions = timed
    try:
        yield spent
    finally:
        torch.export.ExportedProgram.run_decompositions = original


def report_share(profile_top: int = 0, report_first: bool = False) -> Dict[str, Any]:
    """``trt_dyn.report`` of the Cascade replica's dynamic program against one compile of it, in one run (goal:
    report <= 10% of the compile; wall and CPU seconds). By default the report runs after the compile on the same
    program; ``report_first`` runs it before. The order matters: both decompose in the program's own ShapeEnv, whose
    fake-tensor cache the first one fills (both run torch_tensorrt's pre-export lowering first, the compile in place,
    the report on a copy since 876e976, so they decompose the same stripped graph). ``order`` in
    the result records which was measured.

    The CPU time each spends in ``run_decompositions`` is recorded too: the compile's share is the floor of any
    report that analyses the decomposed graph. ``profile_top`` > 0: cProfile the report, top functions in
    ``profile`` (by cumulative and own time)."""
    from trt_dyn.models import cascade_benchmark_model, export_cascade
    from trt_dyn.testing import compile_cpu

    model, _, lo, hi, step = cascade_benchmark_model(1)
    program = export_cascade(model, lo, hi, step)
    measured: Dict[str, Any] = {"loadavg_before": list(os.getloadavg()),
                                "order": "report, then compile" if report_first else "compile, then report"}
    profiler = cProfile.Profile()

    def report() -> Any:
        if not profile_top:
            return trt_dyn.report(program)
        profiler.enable()
        try:
            return trt_dyn.report(program)
        finally:
            profiler.disable()

    steps = [("compile", lambda: compile_cpu(program, require_full_compilation=True, min_block_size=1)),
             ("report", report)]
    for name, work in (steps[::-1] if report_first else steps):
        with timed_decompositions() as decomposing:
            start, start_cpu = time.perf_counter(), time.process_time()
            work()
            measured[f"{name}_s"], measured[f"{name}_cpu_s"] = (time.perf_counter() - start,
                                                                 time.process_time() - start_cpu)
        measured[f"{name}_decompositions_cpu_s"] = decomposing["cpu_s"]
    measured["loadavg_after"] = list(os.getloadavg())
    measured["report_over_compile_cpu"] = measured["report_cpu_s"] / measured["compile_cpu_s"]
    measured["report_over_compile_wall"] = measured["report_s"] / measured["compile_s"]
    measured["compile_decompositions_share_cpu"] = measured["compile_decompositions_cpu_s"] / measured["compile_cpu_s"]
    if profile_top:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        for order in ("cumulative", "tottime"):
            stats.sort_stats(order).print_stats(profile_top)
        measured["profile"] = out.getvalue()
    return measured


def report_share_table(result: Dict[str, Any]) -> str:
    return markdown_table(
        ["Cascade replica (H, W dynamic)", "wall s", "CPU s", "of which run_decompositions, CPU s"],
        [["compile_cpu (1 engine)", result["compile_s"], result["compile_cpu_s"],
          result.get("compile_decompositions_cpu_s", float("nan"))],
         ["trt_dyn.report(program)", result["report_s"], result["report_cpu_s"],
          result.get("report_decompositions_cpu_s", float("nan"))]],
    ) + (f"\n\nreport / compile: {100 * result['report_over_compile_cpu']:.0f}% in CPU time, "
         f"{100 * result['report_over_compile_wall']:.0f}% in wall time (goal <= 10%); "
         f"load average {result['loadavg_before'][0]:.1f}; order: {result.get('order', 'compile, then report')}."
         + (f" The compile's own decomposition is {100 * result['compile_decompositions_share_cpu']:.0f}% of its "
            "CPU time: the floor for a report that decomposes the program as the compile does."
            if "compile_decompositions_share_cpu" in result else ""))


def table(result: Dict[str, Any]) -> str:
    rounds = result.get("rounds", 1)
    text = markdown_table(
        ["graph nodes", "nodes after", "lower() median (s)", "µs / node", "CPU µs / node",
         "codegen paid at first use, CPU µs / node", "CPU µs / node with first-use codegen", "sym_size nodes left",
         "load avg (1 min)", "repeats"],
        [[r["nodes"], r["nodes_after"], r["median_s"], r["us_per_node"], r.get("cpu_us_per_node", float("nan")),
          r.get("codegen_cpu_us_per_node", float("nan")), r.get("cpu_us_per_node_with_first_use_codegen", float("nan")),
          r["sym_size_nodes_left"], r.get("loadavg_before", [float("nan")])[0], result["repeats"]]
         for r in result["rows"]],
    ) + f"\n\nµs/node spread (max/min): {result['per_node_spread']:.2f}"
    if "goal_us_per_node" in result:
        worst = max(r["us_per_node"] for r in result["rows"])
        text += (f"; worst {worst:.0f} µs/node, goal <= {result['goal_us_per_node']:.0f}: "
                 f"{'met' if result['meets_goal'] else 'NOT met'}")
    if "meets_goal_cpu" in result:
        worst_cpu = max(r["cpu_us_per_node"] for r in result["rows"])
        text += f"; worst CPU {worst_cpu:.0f} µs/node: {'met' if result['meets_goal_cpu'] else 'NOT met'}"
    if "meets_goal_cpu_with_first_use_codegen" in result:
        worst_first_use = max(r["cpu_us_per_node_with_first_use_codegen"] for r in result["rows"])
        text += (f"; worst CPU with the codegen paid at first use {worst_first_use:.0f} µs/node: "
                 f"{'met' if result['meets_goal_cpu_with_first_use_codegen'] else 'NOT met'}")
    if rounds > 1:
        text += f". Per size, the quietest of {rounds} rounds (smallest median of {result['repeats']})"
    return text


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 5_000, 10_000, 50_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1, help="repeat the whole measurement; keep the quietest")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile one lower() of the largest size instead (with --report-share: the report)")
    parser.add_argument("--json", default=None, help="also write the result here (with the machine record)")
    parser.add_argument("--report-share", action="store_true",
                        help="time trt_dyn.report against one compile of the Cascade replica instead")
    parser.add_argument("--report-first", action="store_true",
                        help="with --report-share: run the report before the compile (default: after it)")
    args = parser.parse_args()
    if args.report_share:
        from _common import publish

        share = report_share(profile_top=30 if args.profile else 0, report_first=args.report_first)
        listing = share.pop("profile", "")
        publish(report_share_table(share), args.json or os.path.join(os.path.dirname(__file__), "results",
                                                                      "report_share.json"), share)
        print(listing)
    elif args.profile:
        print(profile(max(args.sizes)))
    else:
        result = run(args.sizes, args.repeats, args.rounds)
        if args.json:
            from _common import publish

            publish(table(result), args.json, result)
        else:
            print(table(result))
