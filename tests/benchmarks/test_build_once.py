"""benchmarks/build_once.py: the per-op CPU attribution of run_decompositions (--decomposition-ops)."""

import collections
import importlib.util
import os
import sys

import torch
from torch.export import Dim

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_benchmark():
    benchmarks = os.path.join(ROOT, "benchmarks")
    if benchmarks not in sys.path:
        sys.path.insert(0, benchmarks)  # build_once imports its sibling _common
    spec = importlib.util.spec_from_file_location("build_once", os.path.join(benchmarks, "build_once.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Windows(torch.nn.Module):
    def forward(self, x):
        b, c, h, w = x.shape
        y = x.reshape(b, c, h // 4, 4, w // 4, 4).permute(0, 2, 4, 1, 3, 5)
        return torch.relu(y.flatten(3)) * 2.0


def test_every_node_of_both_traces_is_attributed_to_its_op():
    build_once = load_benchmark()
    h4, w4 = Dim("h4", min=2, max=16), Dim("w4", min=2, max=16)
    program = torch.export.export(Windows(), (torch.randn(1, 3, 24, 32),),
                                  dynamic_shapes=({2: 4 * h4, 3: 4 * w4},))
    graph_ops = collections.Counter(str(n.target) for n in program.graph.nodes if n.op == "call_function")
    run_node = torch.fx.Interpreter.run_node

    cost = build_once._decomposition_cost_by_op(program)

    assert torch.fx.Interpreter.run_node is run_node  # the timer is removed again
    for op, count in graph_ops.items():
        # AOT autograd runs the graph twice (metadata, then capture): every node of the program, both times
        assert cost["by_op"][op]["node_runs"] == 2 * count, op
    assert all(entry["cpu_s"] >= 0 for entry in cost["by_op"].values())
    assert 0 < cost["in_nodes_cpu_s"] <= cost["total_cpu_s"]
