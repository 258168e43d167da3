"""Rows of the translation map found missing on the model zoo (trt_dyn/models/zoo.py)."""

import pytest
import torch

from trt_dyn.testing.harness import run_converter_test


class GroupNormHead(torch.nn.Module):
    """FCOS's head: conv + GroupNorm on a (1, C, H, W) map; aten.native_group_norm gets HxW = H * W as a SymInt."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.norm = torch.nn.GroupNorm(4, 8)
        torch.nn.init.uniform_(self.norm.weight, 0.5, 1.5)
        torch.nn.init.uniform_(self.norm.bias, -0.5, 0.5)

    def forward(self, x):
        return torch.relu(self.norm(self.conv(x)))


def test_native_group_norm_with_symbolic_spatial_size():
    """Reported 'no dyn variant for aten.native_group_norm.default' before, although upstream converts it."""
    result = run_converter_test(GroupNormHead(), (torch.randn(2, 3, 9, 12),),
                                {"x": {0: (1, 3), 2: (4, 20), 3: (4, 20)}})
    assert result.layer_types["NORMALIZATION"] or result.layer_types["REDUCE"]
