"""SymInt placeholders of torch.compile's AOT graphs become shape tensors read from the input tensors.

The graphs are made as torch_tensorrt's torch.compile backend makes them (``aot_export_joint_simple`` with its
decomposition table, inside dynamo's fake mode), then lowered by ``trt_dyn.lower`` and run eagerly at sizes
other than the traced one: a placeholder matched to the wrong input dimension gives a wrong shape.
"""

import unittest.mock

import torch
import torch.nn.functional as F

import trt_dyn
from dyn_helpers import assert_same


def aot_graph(model, example):
    """(AOT graph torch_tensorrt's backend lowers, dynamo's example inputs) for ``model(*example)``."""
    from torch._dynamo.utils import detect_fake_mode
    from torch._functorch.aot_autograd import aot_export_joint_simple
    from torch_tensorrt.dynamo.lowering import get_decompositions

    captured = {}

    def backend(gm, inputs):
        fake_mode = detect_fake_mode(inputs)
        with unittest.mock.patch.object(fake_mode, "allow_non_fake_inputs", True), fake_mode:
            captured["gm"] = aot_export_joint_simple(gm, inputs, trace_joint=False,
                                                     decompositions=get_decompositions(False))
        captured["inputs"] = inputs
        return gm

    torch._dynamo.reset()
    torch.compile(model, backend=backend, dynamic=True)(*example)
    torch._dynamo.reset()
    return captured["gm"], captured["inputs"]


def graph_args(inputs, tensors):
    """The AOT graph's arguments for new ``tensors``: each SymInt input is read from its new tensor's size."""
    sizes = {}
    for example, tensor in zip([i for i in inputs if isinstance(i, torch.Tensor)], tensors):
        for old, new in zip(example.shape, tensor.shape):
            sizes.setdefault(int(old), []).append(int(new))
    tensors = iter(tensors)
    return [next(tensors) if isinstance(i, torch.Tensor) else sizes[int(i)].pop(0) for i in inputs]


def placeholders(gm, kind):
    return [n for n in gm.graph.nodes if n.op == "placeholder" and isinstance(n.meta.get("val"), kind)]


class TwoSizes(torch.nn.Module):
    """Two inputs with independent dynamic sizes: each SymInt must come from its own tensor and dim."""

    def forward(self, lateral, top):
        h, w = lateral.shape[-2:]
        up = F.interpolate(top, size=(h, w), mode="nearest")
        return (lateral + up).reshape(lateral.shape[0], -1)[:, : h * w // 2], torch.arange(top.shape[3] * 2)


def test_symint_placeholders_read_the_matching_input_dimension():
    model = TwoSizes()
    gm, inputs = aot_graph(model, (torch.randn(1, 4, 10, 14), torch.randn(1, 4, 5, 9)))
    symints = placeholders(gm, torch.SymInt)
    assert len(symints) >= 3, gm.graph  # dynamo passes the sizes as graph inputs too
    trt_dyn.lower(gm)
    for node in symints:
        assert not node.users, f"{node.name} still read after lowering"
    reads = [n for n in gm.graph.nodes if n.target is torch.ops.trt_dyn.sym_size_dyn.default
             and n.args[0].op == "placeholder"]
    assert reads
    for node in reads:  # each read is of a dimension whose traced size is the symbol it stands for
        tensor, dim = node.args
        assert node.meta["trt_dyn_symbolic"] == tensor.meta["val"].shape[dim]
    for (h, w), (hh, ww) in (((10, 14), (5, 9)), ((3, 17), (8, 2)), ((31, 6), (4, 30))):
        lateral, top = torch.randn(1, 4, h, w), torch.randn(1, 4, hh, ww)
        assert_same(gm(*graph_args(inputs, [lateral, top])), model(lateral, top))


class ShapeOnly(torch.nn.Module):
    """Reads only the sizes of ``feat``: dynamo passes them, never the tensor, so nothing to read them from."""

    def forward(self, feat, bias):
        h, w = feat.shape[-2:]
        return torch.arange(h * w, dtype=torch.float32).reshape(h, w) + bias


def test_symint_without_a_tensor_becomes_a_shape_input():
    model = ShapeOnly()
    gm, inputs = aot_graph(model, (torch.randn(1, 2, 6, 7), torch.randn(1)))
    assert not any(isinstance(i, torch.Tensor) and i.dim() == 4 for i in inputs)
    trt_dyn.lower(gm)
    shape_inputs = [n for n in gm.graph.nodes if n.target is torch.ops.trt_dyn.symint_dyn.default]
    assert len(shape_inputs) == 2 and all(n.args[0].op == "placeholder" for n in shape_inputs)
    for h, w in ((6, 7), (2, 30), (17, 3)):
        bias = torch.randn(1)
        args = [h if int(i) == 6 else w for i in inputs[:2]] + [bias]
        assert_same(gm(*args), model(torch.randn(1, 2, h, w), bias))
