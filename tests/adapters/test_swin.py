"""trt_dyn.adapters.swin: torchvision's Swin exports with H and W symbolic across the "one window: no shift"
boundary, computes exactly what torchvision computes, and restores torchvision on exit."""

import pytest
import torch

pytest.importorskip("torchvision")

from torchvision.models import swin_transformer  # noqa: E402
from torchvision.models.swin_transformer import SwinTransformer, SwinTransformerBlock  # noqa: E402

from trt_dyn.adapters.swin import ExportableSwin, swin_export_mode  # noqa: E402
from trt_dyn.testing.harness import export_dynamic  # noqa: E402

# feature maps of 5..16: one 7x7 window up to 7 (no shift in torchvision), two from 8 (shift 3)
BLOCK_SIZES = [(5, 5), (7, 7), (7, 14), (8, 13), (14, 14), (15, 9), (16, 16)]


def _shifted_block():
    torch.manual_seed(0)
    return SwinTransformerBlock(16, 2, [7, 7], [3, 3], stochastic_depth_prob=0.0).eval()


class _Adapted(torch.nn.Module):
    """The block run inside swin_export_mode, as ExportableSwin runs it."""

    def __init__(self, block):
        super().__init__()
        self.block = block

    def forward(self, x):
        with swin_export_mode():
            return self.block(x)


def _export(module):
    # auto_dims: torchvision's Python branch on the padded size must become a guard (named Dims refuse it)
    return export_dynamic(module, (torch.rand(1, 11, 12, 16),), {"x": {1: (5, 16), 2: (5, 16)}}, auto_dims=True)


def test_exported_block_equals_torchvision_on_both_sides_of_the_one_window_boundary():
    block = _shifted_block()
    program = _export(_Adapted(block))
    assert sorted((int(r.lower), int(r.upper)) for r in program.range_constraints.values()) == [(5, 16), (5, 16)]
    exported = program.module()
    for index, hw in enumerate(BLOCK_SIZES):
        x = torch.rand(1, *hw, 16, generator=torch.Generator().manual_seed(index))
        with torch.no_grad():
            assert torch.equal(exported(x), block(x)), hw


def test_torchvision_block_alone_exports_only_the_traced_side():
    # what the adapter fixes: torchvision's Python branch on the padded size is kept as a guard
    exported = _export(_shifted_block()).module()
    with pytest.raises(AssertionError, match="Guard failed"):
        exported(torch.rand(1, 7, 7, 16))


def test_adapted_swin_equals_torchvision_bitwise():
    torch.manual_seed(0)
    model = SwinTransformer(patch_size=[4, 4], embed_dim=8, depths=[2, 2, 2, 2], num_heads=[1, 1, 1, 1],
                            window_size=[7, 7], stochastic_depth_prob=0.0, num_classes=5).eval()
    adapted = ExportableSwin(model).eval()
    # 224 and 227: the last stage is one window (no shift); 228 and up: two windows
    for index, hw in enumerate([(224, 224), (227, 228), (231, 401), (448, 448), (300, 229)]):
        x = torch.rand(1, 3, *hw, generator=torch.Generator().manual_seed(index))
        with torch.no_grad():
            assert torch.equal(adapted(x), model(x)), hw


def test_torchvision_restored_on_exit_and_on_error():
    original = swin_transformer.shifted_window_attention
    with swin_export_mode():
        assert swin_transformer.shifted_window_attention is not original
    assert swin_transformer.shifted_window_attention is original
    with pytest.raises(ValueError):
        with swin_export_mode():
            raise ValueError("inside")
    assert swin_transformer.shifted_window_attention is original


def test_swin_v2_calls_go_to_torchvision():
    from torchvision.models.swin_transformer import PatchMergingV2, SwinTransformerBlockV2

    torch.manual_seed(0)
    model = SwinTransformer(patch_size=[4, 4], embed_dim=8, depths=[2, 2], num_heads=[1, 1], window_size=[7, 7],
                            stochastic_depth_prob=0.0, num_classes=5, block=SwinTransformerBlockV2,
                            downsample_layer=PatchMergingV2).eval()
    x = torch.rand(1, 3, 120, 92)
    with torch.no_grad():
        assert torch.equal(ExportableSwin(model)(x), model(x))
