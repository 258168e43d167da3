"""Eager behaviour of the Cascade Mask R-CNN replica, and its building blocks against independent references."""

import math

import pytest
import torch
import torchvision

from trt_dyn.models.boxes import Box2BoxTransform
from trt_dyn.models.cascade_mask_rcnn import CascadeConfig, build_cascade_mask_rcnn
from trt_dyn.models.roi_heads import ROIPooler, mask_rcnn_inference
from trt_dyn.models.rpn import AnchorGenerator
from trt_dyn.models.vit import get_rel_pos, window_partition, window_unpartition


def random_image(height, width, seed):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, height, width, generator=generator) * 255


@pytest.fixture(scope="module")
def model():
    return build_cascade_mask_rcnn(seed=0)


@pytest.mark.parametrize("hw", [(256, 256), (272, 528), (768, 768), (752, 304)])
def test_eager_outputs_are_well_formed(model, hw):
    height, width = hw
    with torch.no_grad():
        boxes, scores, classes, masks = model(random_image(height, width, seed=height * 1000 + width))
    D = model.config.detections_per_image
    assert boxes.shape == (1, D, 4) and scores.shape == (1, D) and classes.shape == (1, D)
    assert masks.shape == (1, D, 1, 28, 28)
    assert classes.dtype == torch.int64
    for t in (boxes, scores, masks):
        assert torch.isfinite(t).all()
    assert (boxes[..., 0] >= 0).all() and (boxes[..., 2] <= width).all()
    assert (boxes[..., 1] >= 0).all() and (boxes[..., 3] <= height).all()
    assert (boxes[..., 2] >= boxes[..., 0]).all() and (boxes[..., 3] >= boxes[..., 1]).all()
    assert ((classes >= 0) & (classes < model.config.num_classes)).all()
    assert ((scores > 0) & (scores < 1)).all()
    assert (scores[0, :-1] >= scores[0, 1:]).all(), "detections are the top-k, in descending score order"
    assert ((masks >= 0) & (masks <= 1)).all()
    # Random weights still give distinct detections, not one box repeated.
    assert torch.unique(boxes[0], dim=0).shape[0] > D // 2


def test_same_seed_same_model_other_seed_differs():
    image = random_image(288, 320, seed=1)
    with torch.no_grad():
        first = build_cascade_mask_rcnn(seed=3)(image)
        again = build_cascade_mask_rcnn(seed=3)(image)
        other = build_cascade_mask_rcnn(seed=4)(image)
    for a, b in zip(first, again):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(first[0], other[0])


def test_build_rejects_unknown_option():
    with pytest.raises(TypeError, match="embed_dimm"):
        build_cascade_mask_rcnn(embed_dimm=32)


def test_width_options_and_class_agnostic_regression():
    model = build_cascade_mask_rcnn(seed=1, embed_dim=32, depth=2, window_block_indexes=(0,), num_classes=3,
                                    cls_agnostic_bbox_reg=True, detections_per_image=7)
    assert model.roi_heads.box_predictors[0].bbox_pred.out_features == 4
    with torch.no_grad():
        boxes, scores, classes, masks = model(random_image(320, 256, seed=2))
    assert boxes.shape == (1, 7, 4) and masks.shape == (1, 7, 1, 28, 28)
    assert ((classes >= 0) & (classes < 3)).all()


def test_rejects_non_image_input(model):
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        model(torch.rand(1, 1, 256, 256))
    with pytest.raises(RuntimeError, match="width 260 is not a multiple of the patch size 16"):
        model(torch.rand(1, 3, 256, 260))


def test_defaults_keep_the_case_study_structure():
    config = CascadeConfig()
    assert len(config.cascade_bbox_reg_weights) == 3
    assert set(config.window_block_indexes) != set(range(config.depth)), "some blocks must attend globally"


# ---- building blocks against references written independently -------------------------------------------


@pytest.mark.parametrize("hw", [(7, 7), (9, 16), (17, 13)])
def test_window_partition_round_trip(hw):
    H, W = hw
    x = torch.randn(2, H, W, 5)
    windows, (Hp, Wp) = window_partition(x, 7)
    assert Hp == math.ceil(H / 7) * 7 and Wp == math.ceil(W / 7) * 7
    assert windows.shape == (2 * (Hp // 7) * (Wp // 7), 7, 7, 5)
    # The window at grid cell (1, 0) of image 1 is that 7x7 patch of the zero-padded image.
    padded = torch.zeros(2, Hp, Wp, 5)
    padded[:, :H, :W] = x
    if Hp > 7:
        index = 1 * (Hp // 7) * (Wp // 7) + 1 * (Wp // 7) + 0
        torch.testing.assert_close(windows[index], padded[1, 7:14, 0:7])
    torch.testing.assert_close(window_unpartition(windows, 7, (Hp, Wp), (H, W)), x)


def _linear_resize_reference(table, length):
    """1-D linear resize with align_corners=False, one output row at a time."""
    src_len = table.shape[0]
    out = torch.empty(length, table.shape[1])
    for i in range(length):
        src = max((i + 0.5) * src_len / length - 0.5, 0.0)
        lo = min(int(math.floor(src)), src_len - 1)
        hi = min(lo + 1, src_len - 1)
        frac = src - lo
        out[i] = table[lo] * (1 - frac) + table[hi] * frac
    return out


@pytest.mark.parametrize("size", [5, 8, 13])
def test_get_rel_pos_matches_reference(size):
    table = torch.randn(2 * 8 - 1, 4, generator=torch.Generator().manual_seed(size))  # trained for 8 positions
    result = get_rel_pos(size, size, table)
    resized = table if size == 8 else _linear_resize_reference(table, 2 * size - 1)
    for q in range(size):
        for k in range(size):
            # PyTorch computes source coordinates in float32, the reference in float64.
            torch.testing.assert_close(result[q, k], resized[q - k + size - 1], rtol=1e-4, atol=1e-5)


def test_anchors_match_explicit_loop():
    sizes, ratios, strides = ((32,), (64,)), (0.5, 1.0, 2.0), (4, 8)
    generator = AnchorGenerator(sizes, ratios, strides)
    features = [torch.zeros(1, 1, 3, 5), torch.zeros(1, 1, 2, 3)]
    anchors = generator(features)
    for level, feature in enumerate(features):
        expected = []
        for y in range(feature.shape[2]):
            for x in range(feature.shape[3]):
                for ratio in ratios:
                    w = sizes[level][0] / math.sqrt(ratio)
                    h = w * ratio
                    cx, cy = x * strides[level], y * strides[level]
                    expected.append([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
        torch.testing.assert_close(anchors[level], torch.tensor(expected))


def test_box_decoding_matches_formula():
    transform = Box2BoxTransform((10.0, 10.0, 5.0, 5.0))
    boxes = torch.tensor([[10.0, 20.0, 50.0, 100.0], [0.0, 0.0, 8.0, 4.0]])
    deltas = torch.tensor([[1.0, -2.0, 0.5, 100.0], [0.0, 0.0, 0.0, 0.0]])
    out = transform.apply_deltas(deltas, boxes)
    # Box 0: w=40, h=80, centre (30, 60); dh/5 = 20 is clamped to log(1000/16).
    cx, cy = 30 + 0.1 * 40, 60 - 0.2 * 80
    w, h = 40 * math.exp(0.1), 80 * (1000 / 16)
    torch.testing.assert_close(out[0], torch.tensor([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]))
    torch.testing.assert_close(out[1], boxes[1])


def test_multi_level_pooler_matches_per_box_roi_align():
    torch.manual_seed(0)
    scales = [1 / 4, 1 / 8, 1 / 16, 1 / 32]
    features = [torch.randn(1, 3, 256 // s, 320 // s) for s in (4, 8, 16, 32)]
    # Box sides from 8 to 600 pixels so every level (and both clamps) is used.
    sides = torch.tensor([8.0, 30.0, 60.0, 100.0, 150.0, 250.0, 400.0, 600.0, 111.0, 224.0])
    x1 = torch.rand(len(sides)) * 100
    y1 = torch.rand(len(sides)) * 100
    boxes = torch.stack([x1, y1, x1 + sides, y1 + sides * 0.8], dim=1)
    pooler = ROIPooler(7, scales)
    pooled = pooler(features, [boxes])

    levels_used = set()
    for i, box in enumerate(boxes):
        size = math.sqrt(float((box[2] - box[0]) * (box[3] - box[1])))
        level = min(max(math.floor(4 + math.log2(size / 224 + 1e-8)), 2), 5) - 2
        levels_used.add(level)
        rois = torch.cat([torch.zeros(1), box])[None]
        expected = torchvision.ops.roi_align(features[level], rois, (7, 7), scales[level], 0, True)
        torch.testing.assert_close(pooled[i], expected[0])
    assert levels_used == {0, 1, 2, 3}


def test_mask_inference_selects_each_detections_class():
    logits = torch.randn(4, 3, 28, 28)
    classes = torch.tensor([2, 0, 2, 1])
    masks = mask_rcnn_inference(logits, classes)
    assert masks.shape == (4, 1, 28, 28)
    for i, c in enumerate(classes.tolist()):
        torch.testing.assert_close(masks[i, 0], torch.sigmoid(logits[i, c]))


def test_benchmark_model_sizes_span_the_range():
    from trt_dyn.models import cascade_benchmark_model

    model, sizes, lo, hi, step = cascade_benchmark_model(5)
    assert (lo, hi, step) == (256, 768, 16)
    assert sizes[0] == lo and sizes[-1] == hi and len(set(sizes)) == 5
    assert all(s % step == 0 for s in sizes) and sizes == sorted(sizes)
    with pytest.raises(ValueError, match="count"):
        cascade_benchmark_model(0)


def test_a_batch_gives_each_images_own_detections(model):
    first, second = random_image(288, 352, seed=5), random_image(288, 352, seed=6)
    with torch.no_grad():
        batched = model(torch.cat([first, second]))
        alone = [model(first), model(second)]
    for i in range(2):
        for got, want in zip(batched, alone[i]):
            torch.testing.assert_close(got[i : i + 1], want, rtol=1e-4, atol=1e-4)
