"""``aten.convolution``, batch norm and group norm whose input channel count is a symbolic expression that the op's
parameters fix (trt_dyn/converters/fixed_channels.py): one engine, numbers equal eager, and inputs that break the
count refused.

The expression appears when torch_tensorrt re-propagates fake values after the dyn lowering: ``view(b, h, w, -1)``
of a tensor whose sizes are ``ceil(H / 8)`` while ``h = H // 8`` gives ``4 * ceil(H / 8) * ceil(W / 8) // ((H // 8) *
(W // 8))`` channels, 4 for every accepted H and W (multiples of 8), which torch cannot prove. Without the converter,
torch_tensorrt's own stops with "Channel dim can't be dynamic for convolution".
"""

import pytest
import torch

import trt_dyn  # noqa: F401
from trt_dyn._trt import trt
from trt_dyn.testing import compile_cpu

AUTO = torch.export.Dim.AUTO


class ViewedChannels(torch.nn.Module):
    """RAFT's correlation lookup in miniature: sample every 8th pixel, view as (b, H // 8, W // 8, -1), check the
    channel count as RAFT does, then ``consumer`` (a convolution, as RAFT; a BatchNorm2d or GroupNorm, which fix the
    count by their statistics / number of channels as the convolution's weight does)."""

    def __init__(self, consumer=None):
        super().__init__()
        self.consumer = torch.nn.Conv2d(4, 6, 3, padding=1) if consumer is None else consumer

    def forward(self, x):  # (1, 4, H, W), H and W multiples of 8 in [16, 96]
        b, c, h, w = x.shape
        for size in (h, w):
            torch._check(size % 8 == 0)
            torch._check(size >= 16)
            torch._check(size <= 96)
        sampled = x[:, :, ::8, ::8]  # (b, c, ceil(h / 8), ceil(w / 8))
        features = sampled.permute(0, 2, 3, 1).reshape(b, h // 8, w // 8, -1).permute(0, 3, 1, 2)
        if features.shape[1] != c:
            raise ValueError(f"expected {c} channels, got {features.shape[1]}")
        return self.consumer(features)


def _compare(model, compiled, sizes, make_inputs, **tolerance):
    for size in sizes:
        inputs = make_inputs(size)
        with torch.no_grad():
            torch.testing.assert_close(compiled(*inputs), model(*inputs), **tolerance, msg=lambda m: f"{size}: {m}")


def test_channel_count_fixed_by_the_weight_compiles_to_one_engine_equal_to_eager():
    torch.manual_seed(0)
    model = ViewedChannels().eval()
    program = torch.export.export(model, (torch.randn(1, 4, 64, 48),), dynamic_shapes=({2: AUTO, 3: AUTO},),
                                  strict=False)
    compiled = compile_cpu(program, require_full_compilation=True, min_block_size=1)
    assert compiled.num_trt_engines == 1 and compiled.pytorch_nodes == []
    (engine,) = compiled.engines
    layers = [engine.network.get_layer(i) for i in range(engine.network.num_layers)]
    assert any(layer.type == trt.LayerType.ASSERTION and "convolution" in layer.name for layer in layers)
    _compare(model, compiled, [(16, 16), (96, 96), (40, 72), (88, 24)], lambda hw: (torch.randn(1, 4, *hw),))


def _batch_norm():
    norm = torch.nn.BatchNorm2d(4)
    with torch.no_grad():
        norm.running_mean.normal_()
        norm.running_var.uniform_(0.5, 2.0)
        norm.weight.normal_()
        norm.bias.normal_()
    return norm


def _group_norm():
    norm = torch.nn.GroupNorm(2, 4)
    with torch.no_grad():
        norm.weight.normal_()
        norm.bias.normal_()
    return norm


@pytest.mark.parametrize("make_norm", [_batch_norm, _group_norm], ids=["batch_norm", "group_norm"])
def test_normalization_of_channels_fixed_by_its_parameters_is_one_engine_equal_to_eager(make_norm):
    torch.manual_seed(0)
    model = ViewedChannels(make_norm()).eval()
    program = torch.export.export(model, (torch.randn(1, 4, 64, 48),), dynamic_shapes=({2: AUTO, 3: AUTO},),
                                  strict=False)
    compiled = compile_cpu(program, require_full_compilation=True, min_block_size=1)
    assert compiled.num_trt_engines == 1 and compiled.pytorch_nodes == []
    _compare(model, compiled, [(16, 16), (96, 96), (40, 72), (88, 24)], lambda hw: (torch.randn(1, 4, *hw),),
             rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_raft_small_compiles_to_one_engine_equal_to_eager():
    """torchvision's RAFT (small, random weights, 2 flow updates), as users bring it, two frames of dynamic size."""
    from torchvision.models.optical_flow import raft_small

    class TwoUpdates(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.raft = raft_small(weights=None)

        def forward(self, first, second):  # (1, 3, H, W), H and W multiples of 8 in [128, 256]
            for size in first.shape[-2:]:
                torch._check(size % 8 == 0)
                torch._check(size >= 128)
                torch._check(size <= 256)
            return self.raft(first, second, num_flow_updates=2)[-1]

    torch.manual_seed(0)
    model = TwoUpdates().eval()
    frames = (torch.randn(1, 3, 128, 192), torch.randn(1, 3, 128, 192))
    program = torch.export.export(model, frames, dynamic_shapes=({2: AUTO, 3: AUTO}, {2: AUTO, 3: AUTO}),
                                  strict=False)
    compiled = compile_cpu(program, require_full_compilation=True, min_block_size=1)
    assert compiled.num_trt_engines == 1 and compiled.pytorch_nodes == []
    # flows of magnitude ~3 px after two updates; float32 over a correlation volume and grid sampling
    _compare(model, compiled, [(128, 128), (256, 256), (136, 248)],
             lambda hw: (torch.randn(1, 3, *hw), torch.randn(1, 3, *hw)), rtol=1e-4, atol=1e-4)
