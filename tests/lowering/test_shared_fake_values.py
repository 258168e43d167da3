"""Shape-tensor nodes that ask their fake kernel the same question share one fake value (dyn_pass.Builder._fake).

The shared value must be what each node's own fake kernel gives: same shape, dtype and remembered symbolic value as a
fresh propagation of the lowered graph, node by node, and nothing may have cached a data-dependent answer on it."""

import torch
from torch.export import Dim

from dyn_helpers import lower_and_check
from test_patterns import FpnTopDown, SymIntArithmetic, VitPositions, WindowPartition, _hw_inputs
from trt_dyn.lowering.dyn_pass import _is_shape_producer, _own_fake_kernel
from trt_dyn.lowering.toolbox import graph_fake_mode
from trt_dyn.ops._registry import recall

AUTO = Dim.AUTO


class RepeatedTokens(torch.nn.Module):
    """Three copies of flatten to tokens / view back to H x W: every copy reshapes to the same (N, H, W, C) target."""

    def forward(self, x):
        for _ in range(3):
            batch, channels, height, width = x.shape
            tokens = x.flatten(2).transpose(1, 2) * 2.0
            x = tokens.reshape(batch, height, width, channels).permute(0, 3, 1, 2) + 1.0
        return x


def _expression(value):
    """A comparable form of a size or remembered value (SymInts by their sympy expression)."""
    if isinstance(value, (tuple, list)):
        return tuple(_expression(v) for v in value)
    if isinstance(value, (torch.SymInt, torch.SymFloat, torch.SymBool)):
        return value.node.expr
    return value


def _shape_nodes(gm):
    return [n for n in gm.graph.nodes if n.op == "call_function" and _own_fake_kernel(n.target)[1] is not None
            and _is_shape_producer(_own_fake_kernel(n.target)[0])]


def _check_equal_to_fresh_propagation(gm):
    fake_mode = graph_fake_mode(gm)
    nodes = _shape_nodes(gm)
    assert nodes
    for node in nodes:
        shared = node.meta["val"]
        args, kwargs = torch.fx.node.map_arg((node.args, node.kwargs), lambda n: n.meta["val"])
        with fake_mode:
            fresh = node.target(*args, **kwargs)
        where = f"{node.name} = {node.target}{node.args}"
        assert _expression(tuple(shared.shape)) == _expression(tuple(fresh.shape)), where
        assert shared.dtype == fresh.dtype and shared.device == fresh.device, where
        assert _expression(recall(shared)) == _expression(recall(fresh)), where
        # fake ops that answer data-dependent questions (item, nonzero, unique) cache the answer on the tensor: one
        # cached on a shared value would make every node sharing it the same unknown value
        for memo in ("item_memo", "nonzero_memo", "unique_memo"):
            assert getattr(shared, memo) is None, (where, memo)
    return nodes


def test_repeated_block_shares_values_equal_to_fresh_propagation():
    ep = lower_and_check(
        RepeatedTokens(), (torch.randn(2, 4, 6, 5),), ({2: AUTO, 3: AUTO},), _hw_inputs(2, 4),
        [(6, 5), (2, 2), (9, 17), (31, 3)],
    )
    nodes = _check_equal_to_fresh_propagation(ep.graph_module)
    # the point of sharing: the three copies' reshape targets (the same shape_cat_dyn question) hold one value
    shapes = [n for n in nodes if n.target is torch.ops.trt_dyn.shape_cat_dyn.default]
    assert len(shapes) >= 3 and len({id(n.meta["val"]) for n in shapes}) < len(shapes)


def test_pattern_values_equal_to_fresh_propagation():
    lowered = [
        lower_and_check(WindowPartition(), (torch.randn(2, 20, 30, 8),), ({1: AUTO, 2: AUTO},),
                        _hw_inputs(2, 8, channels_last=True), [(8, 8), (15, 22), (33, 9)]),
        lower_and_check(VitPositions(), (torch.randn(1, 10, 13, 4),), ({1: AUTO, 2: AUTO},),
                        _hw_inputs(1, 4, channels_last=True), [(8, 8), (17, 9), (39, 24)]),
        lower_and_check(SymIntArithmetic(), (torch.randn(10, 13),), ({0: AUTO, 1: AUTO},),
                        lambda s: (torch.randn(*s),), [(6, 5), (7, 63), (33, 5)]),
        lower_and_check(FpnTopDown(), (torch.randn(1, 4, 20, 26), torch.randn(1, 4, 10, 13)),
                        ({2: Dim("H", min=2, max=64), 3: Dim("W", min=2, max=64)},
                         {2: Dim("h", min=1, max=32), 3: Dim("w", min=1, max=32)}),
                        lambda s: (torch.randn(1, 4, *s[0]), torch.randn(1, 4, *s[1])),
                        [((20, 26), (10, 13)), ((17, 9), (9, 5))]),
    ]
    for ep in lowered:
        _check_equal_to_fresh_propagation(ep.graph_module)
