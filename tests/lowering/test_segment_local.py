"""Shape values never cross a partition cut as engine inputs (issue 13, item 11).

The model computes the same shape values (``const_scalar`` 1, ``sym_size_dyn`` n, ``add_dyn`` n + 1,
``shape_cat_dyn`` [n + 1, 2, 2]) before and after an op that runs in PyTorch. torch_tensorrt used to
build them in the first engine and feed them to the second one as shape inputs the optimization
profile had no values for ("Optimization profile 0 is missing values for shape input tensor ...").
"""

import warnings

import pytest
import torch
from torch.export import Dim

import trt_dyn
from trt_dyn.lowering.segment_local import SHAPE_VALUE_OPS, localise_shape_values
from trt_dyn.testing.compile_cpu import compile_cpu

aten = torch.ops.aten


class CutInTheMiddle(torch.nn.Module):
    def __init__(self, cut):
        super().__init__()
        self.cut = cut

    def forward(self, x):
        n = x.shape[0]
        y = x.new_zeros(n + 1, 4) + x.sum()
        if self.cut == "roll":
            z = torch.roll(y, n // 2, 0)  # no dyn variant: left to PyTorch in warn mode
        else:
            z = torch.relu(y)
        return z.reshape(n + 1, 2, 2) * n + x.mean()


CUTS = {
    # name: (cut op in the model, torch_tensorrt settings, on_missing, what runs in PyTorch)
    "torch_executed_op": ("relu", {"torch_executed_ops": {aten.relu.default}}, "raise", "relu"),
    "warn_mode": ("roll", {}, "warn", "roll"),
    "shape_value_consumer_in_pytorch": ("relu", {"torch_executed_ops": {aten.relu.default, aten.mul.Tensor}},
                                        "raise", "mul"),
}


@pytest.mark.parametrize("cut", sorted(CUTS))
def test_partitioned_compile_recomputes_shape_values_in_each_segment(cut):
    op, options, mode, in_pytorch = CUTS[cut]
    model = CutInTheMiddle(op)
    program = torch.export.export(model, (torch.randn(6, 3),), dynamic_shapes=({0: Dim("n", min=2, max=32)},))
    trt_dyn.lowering.set_on_missing(mode)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = compile_cpu(program, min_block_size=1, require_full_compilation=False, **options)
    assert compiled.num_trt_engines >= 2
    assert any(in_pytorch in node.target for node in compiled.pytorch_nodes), compiled.pytorch_nodes
    for engine in compiled.engines:
        shape_inputs = [engine.network.get_input(i).name for i in range(engine.network.num_inputs)
                        if engine.network.get_input(i).is_shape_tensor]
        assert not shape_inputs, (engine.name, shape_inputs)
    for n in (2, 3, 6, 17, 32):
        x = torch.randn(n, 3)
        torch.testing.assert_close(compiled(x), model(x))


def test_every_consumer_gets_its_own_copy_and_nothing_is_left_over():
    program = torch.export.export(CutInTheMiddle("relu"), (torch.randn(6, 3),),
                                  dynamic_shapes=({0: Dim("n", min=2, max=32)},))
    gm = program.graph_module
    trt_dyn.lower(gm)
    localise_shape_values(gm)
    for node in gm.graph.nodes:
        if node.op == "call_function" and node.target in SHAPE_VALUE_OPS:
            assert len(node.users) == 1, (node.name, list(node.users))
    for n in (2, 9, 32):
        x = torch.randn(n, 3)
        torch.testing.assert_close(gm(x)[0], CutInTheMiddle("relu")(x))
