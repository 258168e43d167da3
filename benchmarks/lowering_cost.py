"""Cost of the static -> dyn lowering pass (`trt_dyn.lower`) as graphs grow.

A block of real dynamic-shape patterns (token flatten / view back to H x W, FPN-style resize to another tensor's size,
new_zeros + cat padding, expand_as) is exported once with dynamic H and W; synthetic graphs of ~1k to ~50k nodes chain
copies of that block's aten graph. The pass is timed on a fresh copy each repeat; time per node must stay flat.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import time
from typing import Any, Callable, Dict, Iterator, List, Sequence

import torch
import torch.nn.functional as F
from torch.export import Dim

from _common import markdown_table, timed
import trt_dyn


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


def run(sizes: Sequence[int] = (1_000, 5_000, 10_000, 50_000), repeats: int = 3) -> Dict[str, Any]:
    block = block_graph()
    # first-call costs (op lookups, dispatcher caches) would land on the smallest graph and fake the spread
    trt_dyn.lower(chained(block, 200))
    rows: List[Dict[str, Any]] = []
    for size in sizes:
        template = chained(block, size)
        nodes = len(template.graph.nodes)
        copies = [copy.deepcopy(template) for _ in range(repeats)]
        pending = iter(copies)
        seconds, samples, lowered = timed(lambda: trt_dyn.lower(next(pending)), repeats)
        new_nodes = len(lowered.graph.nodes) - nodes
        remaining_sym = sum(
            1 for node in lowered.graph.nodes if node.op == "call_function" and node.target is torch.ops.aten.sym_size.int
        )
        rows.append({
            "nodes": nodes, "median_s": seconds, "samples_s": samples,
            "us_per_node": 1e6 * seconds / nodes, "sym_size_nodes_left": remaining_sym,
            "nodes_after": len(lowered.graph.nodes), "node_delta": new_nodes,
        })
    per_node = [row["us_per_node"] for row in rows]
    return {"rows": rows, "per_node_spread": max(per_node) / min(per_node), "repeats": repeats}


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


def table(result: Dict[str, Any]) -> str:
    return markdown_table(
        ["graph nodes", "nodes after", "lower() median (s)", "µs / node", "sym_size nodes left", "repeats"],
        [[r["nodes"], r["nodes_after"], r["median_s"], r["us_per_node"], r["sym_size_nodes_left"], result["repeats"]]
         for r in result["rows"]],
    ) + f"\n\nµs/node spread (max/min): {result['per_node_spread']:.2f}"


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 5_000, 10_000, 50_000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(table(run(args.sizes, args.repeats)))
