"""Shape values never cross a partition cut: each consumer gets its own copy of their computation.

The dyn lowering creates each shape value once (``const`` / ``const_scalar`` at the top of the graph,
``sym_size_dyn`` and the arithmetic right after the SymInt they replace) and shares it between all
consumers. When torch_tensorrt partitions the graph (``require_full_compilation=False``,
``torch_executed_ops``, nodes left to PyTorch in "warn" mode), a shared value lands in the first
TensorRT segment and reaches the later ones as an engine input. TensorRT takes such an input as a
shape tensor, and torch_tensorrt's optimization profile gives it no values: "Optimization profile 0
is missing values for shape input tensor ...", the build returns None.

:func:`localise_shape_values` copies the whole shape computation (leaves: ``const*``, ``size_dyn`` /
``sym_size_dyn`` / ``numel_dyn`` of a tensor, ``symint_dyn`` of a SymInt input) right before each
consumer. The copies' only user is the consumer, so the partitioner puts them in the consumer's
segment, and only ordinary tensors (whose sizes are read) cross a cut. TensorRT folds the duplicated
layers inside one engine.
"""

from __future__ import annotations

from typing import Dict, FrozenSet

import torch
from torch.fx import GraphModule, Node

from ..ops import arith as _arith_ops
from ..ops import shape as _shape_ops


def _family_ops(module) -> FrozenSet[torch._ops.OpOverload]:
    return frozenset(value._opoverload for value in vars(module).values()
                     if isinstance(value, torch._library.custom_ops.CustomOpDef))


#: ops computing shape values only (trt_dyn/ops/shape.py and trt_dyn/ops/arith.py)
SHAPE_VALUE_OPS: FrozenSet[torch._ops.OpOverload] = _family_ops(_shape_ops) | _family_ops(_arith_ops)


def _is_shape_value(node: Node) -> bool:
    return node.op == "call_function" and node.target in SHAPE_VALUE_OPS


def _copy_before(node: Node, consumer: Node, copies: Dict[Node, Node]) -> Node:
    if not _is_shape_value(node):
        return node
    if node not in copies:
        inputs = {arg: _copy_before(arg, consumer, copies) for arg in node.all_input_nodes}
        with consumer.graph.inserting_before(consumer):
            copy = consumer.graph.node_copy(node, lambda arg: inputs[arg])
        copies[node] = copy
    return copies[node]


def localise_shape_values(gm: GraphModule) -> int:
    """Give every consumer of a shape value its own copy of the computation; returns the nodes added."""
    graph = gm.graph
    added = 0
    for consumer in list(graph.nodes):
        if _is_shape_value(consumer) or consumer.op in ("placeholder", "get_attr"):
            continue
        shared = [arg for arg in consumer.all_input_nodes if _is_shape_value(arg)]
        if not shared:
            continue
        copies: Dict[Node, Node] = {}
        for arg in shared:
            consumer.replace_input_with(arg, _copy_before(arg, consumer, copies))
        added += len(copies)
    for node in reversed(list(graph.nodes)):
        if _is_shape_value(node) and not node.users:
            graph.erase_node(node)
            added -= 1
    return added
