"""Plain PyTorch models whose dynamic-size code the lowering pass rewrites into trt_dyn ops:
the trt_dyn converters carry them into one engine that matches eager across the ranges."""

import collections

import torch
import torch.nn.functional as F

from trt_dyn.testing.harness import run_converter_test


class DetectorLikeShapes(torch.nn.Module):
    def forward(self, x):
        n, c, h, w = x.shape
        flat = x.view(n, c * h, w)
        resized = F.interpolate(x, size=(h * 2, w + 3), mode="bilinear", align_corners=False)
        upsampled = F.interpolate(x, scale_factor=2.0, mode="nearest")
        ramp = torch.arange(w, dtype=torch.float32) * 0.5
        top = x[:, :, : h // 2]
        padded = F.pad(x, (1, 2, 0, h // 3))
        ones = x.new_zeros((n, h, w)) + 1
        widened = x[:, :1].expand(n, c, h, w)
        return flat, resized, upsampled, x + ramp, top, padded, ones, widened


def _ops_in(network):
    names = [network.get_layer(i).name for i in range(network.num_layers)]
    return collections.Counter(op for name in names for op in ("interpolate_dyn", "arange_dyn", "slice_dyn", "pad_dyn", "expand_dyn", "reshape_dyn") if f"{op}_default" in name)


def test_lowered_model_uses_dyn_converters_and_matches_eager():
    result = run_converter_test(DetectorLikeShapes(), (torch.randn(2, 3, 6, 5),), {"x": {2: (2, 9), 3: (2, 11)}})
    used = _ops_in(result.networks[0])
    assert {"interpolate_dyn", "arange_dyn", "pad_dyn", "expand_dyn"} <= set(used), used
    assert len(result.points) >= 4


class SplitsSelectsFactories(torch.nn.Module):
    def forward(self, x):
        n, c, h, w = x.shape
        top, bottom = torch.split(x, [h // 2, h - h // 2], dim=2)
        return (
            top, bottom, x.narrow(3, 1, w - 1), x.repeat(1, 1, 2, 1), x.new_full((n, w), 3.0),
            x.reshape(n, -1), x[:, :, h - 1], torch.ones(h, w) * 2,
            torch.arange(h).view(-1, 1) * w + torch.arange(w),
        )


def test_lowered_splits_selects_factories():
    result = run_converter_test(SplitsSelectsFactories(), (torch.randn(2, 3, 6, 5),), {"x": {2: (2, 9), 3: (2, 11)}})
    network = result.networks[0]
    names = " ".join(network.get_layer(i).name for i in range(network.num_layers))
    for op in ("split_dyn", "select_dyn", "full_dyn", "arange_dyn", "slice_dyn"):
        assert f"{op}_default" in names, op
