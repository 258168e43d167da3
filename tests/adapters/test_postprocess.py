"""torchvision detectors with their own post-processing (score threshold, remove_small_boxes, clip, batched_nms,
``[:detections_per_img]``) in ONE engine, against eager; and the scoped ``exact_batched_nms`` adapter.

Detectors come from the zoo (random weights, BatchNorm calibrated) with ``nms="exact"``. Random weights give
scores bunched together, so each detector gets a score threshold (and, for RetinaNet, a wider spread of class
logits) with which the number of detections differs between the test images, and checked to have no tied
scores among the detections, so that ties never decide the comparison: labels and the order of detections must
then match eager exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pytest
import torch
import torchvision

import trt_dyn  # noqa: F401  (before torch_tensorrt)
from trt_dyn.adapters import DetectorOutputs
from trt_dyn.adapters.postprocess import batched_nms_op, exact_batched_nms
from trt_dyn.testing import compile_cpu


@dataclass(frozen=True)
class Calibration:
    score_thresh: float
    #: factor on the classification logits' weights (spreads sigmoid scores that sit at the prior otherwise)
    cls_scale: Optional[float] = None


# SSDlite with its post-processing and exact NMS in one engine: tests/models/test_zoo.py (its own test)
DETECTORS = {
    "fasterrcnn_mobilenet_v3_large_fpn": Calibration(0.016),
    "retinanet_resnet50_fpn": Calibration(0.058, cls_scale=30.0),
}


def calibrated_detector(name: str):
    from trt_dyn.models import zoo

    entry = zoo.ZOO[name]
    model = entry.build()
    calibration = DETECTORS[name]
    if hasattr(model, "roi_heads"):
        model.roi_heads.score_thresh = calibration.score_thresh
    else:
        model.score_thresh = calibration.score_thresh
    if calibration.cls_scale is not None:
        with torch.no_grad():
            model.head.classification_head.cls_logits.weight.mul_(calibration.cls_scale)
    wrapped = DetectorOutputs(model, ("boxes", "scores", "labels"), nms="exact")
    zoo.calibrate_batch_norm(wrapped, [entry.min_hw, entry.odd_hw])
    return entry, wrapped.eval()


def assert_same_detections(got, expected):
    boxes, scores, labels = got
    want_boxes, want_scores, want_labels = expected
    assert labels.shape == want_labels.shape, (labels.shape, want_labels.shape)
    # no tie among the detections' scores: the order is decided by score alone
    assert len(set(want_scores.tolist())) == len(want_scores), "tied scores: calibrate the detector"
    assert torch.equal(labels, want_labels)
    torch.testing.assert_close(scores, want_scores, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(boxes, want_boxes, rtol=1e-4, atol=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_detector_with_its_postprocessing_in_one_engine(name):
    from trt_dyn.models.zoo import export_zoo_model, zoo_input

    entry, model = calibrated_detector(name)
    images = [zoo_input(hw, seed=index + 1) for index, hw in enumerate(entry.test_sizes)]
    with torch.no_grad():
        expected = [model(image) for image in images]
    counts = [len(result[2]) for result in expected]
    assert len(set(counts)) > 1, counts  # the threshold keeps a different number of boxes per image

    program = export_zoo_model(name, model)
    targets = {str(node.target) for node in program.graph.nodes}
    assert "trt_dyn.batched_nms.default" in targets  # the model's NMS, not a replacement
    compiled = compile_cpu(program, require_full_compilation=True, min_block_size=1)
    assert compiled.num_trt_engines == 1 and not compiled.pytorch_nodes
    layer_types = {compiled.engines[0].network.get_layer(i).type.name
                   for i in range(compiled.engines[0].network.num_layers)}
    assert "NMS" not in layer_types and "NON_ZERO" not in layer_types
    for image, want in zip(images, expected):
        assert_same_detections(compiled(image), want)


class PostprocessChain(torch.nn.Module):
    """roi_heads.postprocess_detections' steps on [N] proposals with per-class scores, then a top-k."""

    def forward(self, boxes, logits):
        from torchvision.ops import boxes as box_ops

        scores = logits.softmax(-1)[:, 1:]
        count, classes = scores.shape
        boxes = box_ops.clip_boxes_to_image(boxes, (100, 120))
        boxes = boxes[:, None].expand(count, classes, 4).reshape(-1, 4)
        labels = torch.arange(1, classes + 1).view(1, -1).expand(count, classes).reshape(-1)
        scores = scores.reshape(-1)
        inds = torch.where(scores > 0.3)[0]
        boxes, scores, labels = boxes[inds], scores[inds], labels[inds]
        keep = box_ops.remove_small_boxes(boxes, min_size=4.0)
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        keep = box_ops.batched_nms(boxes, scores, labels, 0.5)[:15]
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        best = scores.topk(torch.sym_min(5, scores.shape[0])).indices
        return boxes, scores, labels, best


def _proposals(n, generator):
    corner = torch.rand(n, 2, generator=generator) * torch.tensor([140.0, 120.0]) - 10
    extent = torch.rand(n, 2, generator=generator) * 40
    logits = torch.randn(n, 4, generator=generator) * 2
    return torch.cat([corner, corner + extent], dim=1), logits


def test_postprocess_chain_dynamic_n_one_engine():
    from trt_dyn.testing.harness import export_dynamic

    generator = torch.Generator().manual_seed(0)
    with exact_batched_nms():
        program = export_dynamic(PostprocessChain(), _proposals(20, generator),
                                 {"boxes": {0: (1, 300)}, "logits": {0: (1, 300)}})
        compiled = compile_cpu(program, require_full_compilation=True, min_block_size=1)
        assert compiled.num_trt_engines == 1 and not compiled.pytorch_nodes
        counts = set()
        for n in [1, 2, 3, 9, 40, 120, 300] * 3:
            boxes, logits = _proposals(n, generator)
            expected = PostprocessChain()(boxes, logits)
            got = compiled(boxes, logits)
            counts.add(len(expected[2]))
            for actual, want in zip(got, expected):
                assert actual.shape == want.shape and actual.dtype == want.dtype
                if want.dtype.is_floating_point:
                    torch.testing.assert_close(actual, want, rtol=1e-5, atol=1e-5)
                else:
                    assert torch.equal(actual, want)
    assert {0, 15} <= counts and len(counts) > 4


def test_exact_batched_nms_is_scoped_and_equal_in_eager():
    from torchvision.ops import boxes as box_ops

    original = box_ops.batched_nms
    generator = torch.Generator().manual_seed(0)
    for n in (0, 1, 7, 400, 1100):
        corner = torch.rand(n, 2, generator=generator) * 60 - 10
        boxes = torch.cat([corner, corner + 1 + torch.rand(n, 2, generator=generator) * 20], dim=1)
        scores = torch.rand(n, generator=generator)
        classes = torch.randint(0, 3, (n,), generator=generator)
        with exact_batched_nms():
            assert box_ops.batched_nms is batched_nms_op and torchvision.ops.batched_nms is batched_nms_op
            inside = box_ops.batched_nms(boxes, scores, classes, 0.5)
        assert torch.equal(inside, original(boxes, scores, classes, 0.5))
    with pytest.raises(RuntimeError):
        with exact_batched_nms():
            raise RuntimeError("inside the block")
    assert box_ops.batched_nms is original and torchvision.ops.batched_nms is original
