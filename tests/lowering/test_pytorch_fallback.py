""""warn" mode leaves the reported node and its SymInt chain to PyTorch (issue 13, items 4 and 9).

torch_tensorrt's own converters used to take these nodes: reflect pad by (-w) % 4 came out w - w % 4
wide, full(fill=n), a symbolic slice step and narrow(.item()) crashed the conversion.
"""

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch.export import Dim

import trt_dyn
from trt_dyn.lowering.pytorch_fallback import original_target, pytorch_stand_in
from trt_dyn.testing.compile_cpu import compile_cpu


class ReflectToMultipleOf4(torch.nn.Module):
    def forward(self, x):
        w = x.shape[-1]
        return F.pad(x, (0, (-w) % 4), mode="reflect") * 2


class FillWithSize(torch.nn.Module):
    def forward(self, x):
        return x + torch.full((1,), x.shape[0])


class SymbolicStep(torch.nn.Module):
    def forward(self, x):
        return x[:, :: x.shape[0]] + 1


class NarrowByItem(torch.nn.Module):
    def forward(self, x, k):
        return x.narrow(1, 0, k.item()) * 2


CASES = {
    # name: (model, example args, dynamic shapes, inputs at a size, sizes, the op left to PyTorch)
    "reflect_pad": (ReflectToMultipleOf4(), (torch.randn(2, 3, 10),), ({2: Dim("w", min=4, max=32)},),
                    lambda n: (torch.randn(2, 3, n),), (4, 5, 10, 31, 32), "aten.reflection_pad1d.default"),
    "full_fill": (FillWithSize(), (torch.randn(5, 3),), ({0: Dim("b", min=2, max=16)},),
                  lambda n: (torch.randn(n, 3),), (2, 5, 16), "aten.full.default"),
    "symbolic_step": (SymbolicStep(), (torch.randn(3, 12),), ({0: Dim.AUTO(min=2, max=8)},),
                      lambda n: (torch.randn(n, 12),), (2, 5, 7, 8), "aten.slice.Tensor"),
    "narrow_item": (NarrowByItem(), (torch.randn(3, 12), torch.tensor(5)), ({0: Dim("b", min=2, max=16)}, None),
                    lambda n: (torch.randn(n, 12), torch.randint(0, 13, ())), (2, 7, 16), "aten.slice.Tensor"),  # narrow decomposes to slice
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_warn_mode_runs_the_reported_node_in_pytorch(case):
    model, example, dims, make, sizes, left = CASES[case]
    program = torch.export.export(model, example, dynamic_shapes=dims)
    reported = {m.node for m in trt_dyn.report(program).missing}
    trt_dyn.lowering.set_on_missing("warn")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = compile_cpu(program, min_block_size=1, require_full_compilation=False)
    if reported:  # (a dyn row may cover the op by now; then it is built, and must be right too)
        in_pytorch = {node.target for node in compiled.pytorch_nodes}
        assert any(left.split(".")[1] in target for target in in_pytorch), (left, in_pytorch)
    for n in sizes:
        for _ in range(2):
            args = make(n)
            out, expected = compiled(*args), model(*args)
            assert out.shape == expected.shape, (n, out.shape, expected.shape)
            torch.testing.assert_close(out, expected)


def test_stand_in_runs_the_original_op_and_is_shared():
    stand_in = pytorch_stand_in(torch.ops.aten.add.Tensor)
    assert stand_in is pytorch_stand_in(torch.ops.aten.add.Tensor)
    assert original_target(stand_in) is torch.ops.aten.add.Tensor
    a, b = torch.randn(3), torch.randn(3)
    assert torch.equal(stand_in(a, b), a + b)
    from torch_tensorrt.dynamo.conversion._ConverterRegistry import DYNAMO_CONVERTERS

    assert torch.ops.aten.add.Tensor in DYNAMO_CONVERTERS and stand_in not in DYNAMO_CONVERTERS


def test_without_reported_names_every_node_touching_a_symbolic_value_still_moves():
    """leave_to_pytorch returns early when no node is symbolic (the usual end of a complete rewrite); a graph where
    one is must still have its SymInt chain and its consumer moved, and the moved graph must still run like eager."""
    from trt_dyn.lowering.dyn_pass import _kind
    from trt_dyn.lowering.pytorch_fallback import leave_to_pytorch

    model = FillWithSize()
    program = torch.export.export(model, (torch.randn(5, 3),), dynamic_shapes=({0: Dim("b", min=2, max=16)},))
    gm = program.graph_module
    symbolic = {n.name for n in gm.graph.nodes if _kind(n) == "symbolic"}
    assert symbolic
    moved = leave_to_pytorch(gm, lambda n: _kind(n) == "symbolic", ())
    full = [n for n in moved if original_target(n.target) is torch.ops.aten.full.default]
    assert full and {n.name for n in moved} >= symbolic - {n.name for n in gm.graph.nodes if n.op != "call_function"}
    gm.recompile()
    for n in (2, 7, 16):
        x = torch.randn(n, 3)
        torch.testing.assert_close(program.module()(x), model(x))
    static = torch.export.export(model, (torch.randn(5, 3),)).graph_module
    assert leave_to_pytorch(static, lambda n: _kind(n) == "symbolic", ()) == []
