"""The batched keypoint decoding (trt_dyn.adapters.keypoints) against torchvision's per-box loop: the same bicubic
maps up to float rounding, the same keypoint positions except on proven near-ties, and the adapter restores
torchvision's function on exit."""

import pytest
import torch
import torch.nn.functional as F

torchvision = pytest.importorskip("torchvision")

from torchvision.models.detection import roi_heads as roi_heads_module  # noqa: E402

from trt_dyn.adapters import DetectorOutputs, detection_export_mode  # noqa: E402
from trt_dyn.adapters.keypoints import (  # noqa: E402
    _first_max_position,
    bicubic_weight_matrices,
    heatmaps_to_keypoints_bounded,
    keypoint_rounding_bound,
)

HEATMAP = 56


def _heatmaps(boxes, keypoints, generator):
    """Smooth blobs plus noise, like a keypoint head's logits (pure noise would be rougher than any real map)."""
    coarse = torch.randn(boxes, keypoints, 8, 8, generator=generator) * 4
    smooth = F.interpolate(coarse, size=(HEATMAP, HEATMAP), mode="bilinear", align_corners=False)
    return smooth + torch.randn(boxes, keypoints, HEATMAP, HEATMAP, generator=generator) * 0.3


def _boxes(count, height, width, generator):
    x1 = torch.rand(count, generator=generator) * (width - 1)
    y1 = torch.rand(count, generator=generator) * (height - 1)
    x2 = torch.minimum(x1 + torch.rand(count, generator=generator) * width, torch.tensor(float(width)))
    y2 = torch.minimum(y1 + torch.rand(count, generator=generator) * height, torch.tensor(float(height)))
    boxes = torch.stack([x1, y1, x2, y2], dim=1)
    boxes[0] = torch.tensor([0.0, 0.0, width, height])  # the whole image: the grid bound itself
    boxes[1] = torch.tensor([3.2, 4.7, 3.5, 5.0])  # under one pixel: torchvision clamps the size to 1
    boxes[2, 2:] = boxes[2, :2] + torch.tensor([HEATMAP, HEATMAP])  # the heatmap's own size
    return boxes


@pytest.mark.parametrize("out_size", [1, 7, 55, 56, 57, 113, 300, 512])
def test_weight_matrices_resize_as_aten_bicubic(out_size):
    generator = torch.Generator().manual_seed(out_size)
    rough = torch.randn(2, 3, HEATMAP, HEATMAP, generator=generator) * 10  # larger slopes: larger rounding effects
    maps = torch.cat([_heatmaps(2, 3, generator), rough])
    other = 37
    want = F.interpolate(maps, size=(out_size, other), mode="bicubic", align_corners=False)
    rows = bicubic_weight_matrices(HEATMAP, torch.tensor([out_size] * 4), out_size)
    columns = bicubic_weight_matrices(HEATMAP, torch.tensor([other] * 4), other)
    got = rows[:, None] @ maps @ columns[:, None].transpose(-1, -2)
    bound = keypoint_rounding_bound(maps)[..., None, None]
    assert ((got - want).abs() <= bound).all(), float((got - want).abs().max())


def test_first_max_position_takes_the_first_of_equal_values():
    values = torch.tensor([[1.0, 3.0, 3.0, 2.0], [float("-inf"), 0.0, 0.0, 0.0], [5.0, 5.0, 5.0, 5.0]])
    best, first = _first_max_position(values)
    assert best.tolist() == [3.0, 0.0, 5.0]
    assert first.tolist() == [1, 1, 0]
    assert first.tolist() == values.argmax(dim=-1).tolist()


def _torchvision_maps(maps, rois):
    widths = (rois[:, 2] - rois[:, 0]).clamp(min=1).ceil().int().tolist()
    heights = (rois[:, 3] - rois[:, 1]).clamp(min=1).ceil().int().tolist()
    return [F.interpolate(maps[i][:, None], size=(h, w), mode="bicubic", align_corners=False)[:, 0]
            for i, (h, w) in enumerate(zip(heights, widths))]


@pytest.mark.parametrize("image_hw", [(64, 96), (256, 256), (512, 384)])
def test_keypoints_equal_torchvision_except_proven_near_ties(image_hw):
    """Positions (integer pixels in each box's resized map) exactly torchvision's, scores within the rounding
    bound; where a position differs, torchvision's own map holds at our position a value within twice the
    bound of its maximum (a near-tie the two roundings order differently), and that is rare."""
    height, width = image_hw
    generator = torch.Generator().manual_seed(height + width)
    count, keypoints = 12, 17
    maps = _heatmaps(count, keypoints, generator)
    rois = _boxes(count, height, width, generator)
    want_xy, want_scores = roi_heads_module.heatmaps_to_keypoints(maps, rois)
    got_xy, got_scores = heatmaps_to_keypoints_bounded(maps, rois, height, width)
    assert got_xy.shape == want_xy.shape == (count, keypoints, 3)
    bound = keypoint_rounding_bound(maps)
    assert ((got_scores - want_scores).abs() <= bound).all()

    # back to integer pixels of each box's map (the inverse of (int + 0.5) * correction + offset)
    widths = (rois[:, 2] - rois[:, 0]).clamp(min=1)
    heights = (rois[:, 3] - rois[:, 1]).clamp(min=1)
    def pixels(xy):
        x = ((xy[..., 0] - rois[:, None, 0]) / (widths / widths.ceil())[:, None] - 0.5).round().long()
        y = ((xy[..., 1] - rois[:, None, 1]) / (heights / heights.ceil())[:, None] - 0.5).round().long()
        return x, y
    got_x, got_y = pixels(got_xy)
    want_x, want_y = pixels(want_xy)
    moved = (got_x != want_x) | (got_y != want_y)
    assert torch.equal(got_xy[~moved], want_xy[~moved])  # same pixel: bit-identical coordinates
    resized = _torchvision_maps(maps, rois)
    for box, keypoint in moved.nonzero().tolist():
        heat = resized[box][keypoint]
        x, y = int(got_x[box, keypoint]), int(got_y[box, keypoint])
        assert 0 <= x < heat.shape[1] and 0 <= y < heat.shape[0]
        assert heat[y, x] >= heat.max() - 2 * bound[box, keypoint], (box, keypoint)
    assert int(moved.sum()) <= moved.numel() // 100, f"{int(moved.sum())} of {moved.numel()} near-ties"


def test_zero_heatmaps_take_the_first_pixel_as_torchvision():
    """All pixels tie exactly (0 * weight is 0): both take the first pixel of each box."""
    maps = torch.zeros(3, 2, HEATMAP, HEATMAP)
    rois = torch.tensor([[10.0, 20.0, 50.5, 31.0], [0.0, 0.0, 64.0, 64.0], [5.0, 5.0, 5.2, 5.9]])
    want_xy, want_scores = roi_heads_module.heatmaps_to_keypoints(maps, rois)
    got_xy, got_scores = heatmaps_to_keypoints_bounded(maps, rois, 64, 64)
    assert torch.equal(got_xy, want_xy) and torch.equal(got_scores, want_scores)


def _tiny_keypoint_detector():
    from torchvision.models import resnet18
    from torchvision.models.detection import KeypointRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.backbone_utils import BackboneWithFPN

    torch.manual_seed(0)
    backbone = BackboneWithFPN(resnet18(weights=None), {"layer2": "0", "layer3": "1"}, [128, 256], 32)
    anchors = AnchorGenerator(((16,), (32,), (64,)), ((0.5, 1.0, 2.0),) * 3)
    return KeypointRCNN(backbone, num_classes=2, num_keypoints=5, rpn_anchor_generator=anchors, min_size=64,
                        max_size=128, rpn_pre_nms_top_n_test=20, rpn_post_nms_top_n_test=10,
                        box_detections_per_img=5, box_score_thresh=0.0).eval()


def test_adapter_decodes_the_models_keypoints_and_restores_torchvision():
    detector = _tiny_keypoint_detector()
    image = torch.rand(1, 3, 64, 128)  # a size the transform leaves unchanged (min_size 64, max_size 128)
    original = roi_heads_module.keypointrcnn_inference
    keys = ("boxes", "keypoints", "keypoints_scores")
    with torch.no_grad():
        own = detector(image)[0]
        adapted = DetectorOutputs(detector, keys=keys)(image)
    assert adapted[1].shape[0] > 0
    torch.testing.assert_close(adapted[0], own["boxes"], rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(adapted[1], own["keypoints"], rtol=1e-5, atol=1e-4)  # pixels: no near-tie here
    torch.testing.assert_close(adapted[2], own["keypoints_scores"], rtol=1e-4, atol=1e-4)
    assert roi_heads_module.keypointrcnn_inference is original
    assert "forward" not in vars(detector.roi_heads)
    with pytest.raises(RuntimeError, match="boom"):
        with detection_export_mode(detector):
            assert roi_heads_module.keypointrcnn_inference is not original
            raise RuntimeError("boom")
    assert roi_heads_module.keypointrcnn_inference is original
    assert "forward" not in vars(detector.roi_heads)


def test_no_detections():
    keypoints, scores = heatmaps_to_keypoints_bounded(torch.zeros(0, 17, HEATMAP, HEATMAP), torch.zeros(0, 4), 64, 64)
    assert keypoints.shape == (0, 17, 3) and scores.shape == (0, 17)


class KeypointDecoding(torch.nn.Module):
    """The decoding alone: detections and image size dynamic (boxes and heatmaps packed in one input)."""

    keypoints = 3

    def forward(self, image, packed):
        maps = packed[:, 4:].reshape(-1, self.keypoints, HEATMAP, HEATMAP)
        return heatmaps_to_keypoints_bounded(maps, packed[:, :4], image.shape[-2], image.shape[-1])


def _packed(count, height, width, seed):
    generator = torch.Generator().manual_seed(seed)
    maps = _heatmaps(count, KeypointDecoding.keypoints, generator).flatten(1)
    boxes = _boxes(max(count, 3), height, width, generator)[-count:]
    return torch.cat([boxes, maps], dim=1)


def test_keypoint_decoding_compiles_to_one_engine_and_matches_eager():
    """One engine, no PyTorch node (no gather, no top-k: one-hot selects and a min over positions); the executor
    gives eager's values bit for bit at the smallest and largest sizes and an odd one."""
    from trt_dyn.testing import compile_cpu

    count = torch.export.Dim("count", min=1, max=12)
    height, width = torch.export.Dim("height", min=32, max=128), torch.export.Dim("width", min=32, max=128)
    program = torch.export.export(KeypointDecoding(), (torch.rand(1, 3, 64, 96), _packed(5, 64, 96, 0)),
                                  dynamic_shapes=({2: height, 3: width}, {0: count}))
    compiled = compile_cpu(program, require_full_compilation=True, min_block_size=1)
    assert compiled.num_trt_engines == 1 and compiled.pytorch_nodes == []
    for count, h, w in [(2, 32, 32), (12, 128, 128), (7, 97, 61)]:
        inputs = (torch.rand(1, 3, h, w), _packed(count, h, w, seed=count))
        for got, want in zip(compiled(*inputs), KeypointDecoding()(*inputs)):
            assert torch.equal(got, want)
