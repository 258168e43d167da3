"""Exact NMS in one TensorRT engine: ``torchvision::nms`` and ``batched_nms`` against torchvision's CPU kernel.

Each module is exported once with a dynamic box count and compiled once; then at least 20 fresh random
cases per box distribution (random, all overlapping, none overlapping, tied scores, IoU exactly at
the threshold) are run by the CPU executor and the kept indices must equal torchvision's exactly
(same boxes, same order), for several IoU thresholds in the same engine.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torchvision
from torchvision.ops import batched_nms, nms

import trt_dyn  # noqa: F401  (before torch_tensorrt)
from trt_dyn.adapters.postprocess import exact_batched_nms
from trt_dyn.converters.errors import ConverterError, find_converter_error
from trt_dyn.converters.nms import (
    FORMULATIONS,
    VANILLA_NUMEL,
    count_nms_layers,
    float32_threshold,
    set_formulation,
)
from trt_dyn.testing import compile_cpu
from trt_dyn.testing.harness import ENGINE_MODES, export_dynamic, network_layer_types

THRESHOLDS = (0.0, 0.3, 0.5, 0.7)
MAX_N = 160
#: box counts every distribution runs at (min, small, odd, max)
SIZES = (1, 2, 3, 5, 17, 64, 101, MAX_N)
CASES = 24


class MultiThresholdNms(torch.nn.Module):
    def forward(self, boxes, scores):
        return tuple(nms(boxes, scores, threshold) for threshold in THRESHOLDS)


def _boxes(n, generator, spread=100.0, size=(1.0, 40.0)):
    corner = torch.rand(n, 2, generator=generator) * spread
    extent = size[0] + torch.rand(n, 2, generator=generator) * (size[1] - size[0])
    return torch.cat([corner, corner + extent], dim=1)


def random_case(kind, n, generator):
    """(boxes, scores) of one box distribution."""
    scores = torch.rand(n, generator=generator)
    if kind == "random":
        return _boxes(n, generator), scores
    if kind == "all_overlapping":  # jittered copies of one box: every pair has IoU > 0.7
        base = torch.tensor([20.0, 30.0, 80.0, 70.0])
        return base + torch.rand(n, 4, generator=generator) * 0.5, scores
    if kind == "none_overlapping":  # a grid of disjoint unit-spaced boxes
        cell = torch.arange(n, dtype=torch.float32)
        x, y = (cell % 13) * 10.0, torch.div(cell, 13, rounding_mode="floor") * 10.0
        return torch.stack([x, y, x + 9.0, y + 9.0], dim=1), scores
    if kind == "tied_scores":  # few distinct scores, clustered boxes: ties decide the order
        boxes = _boxes(n, generator, spread=30.0, size=(5.0, 30.0))
        return boxes, torch.randint(0, 3, (n,), generator=generator).float() / 4
    if kind == "iou_at_threshold":
        # halves and quarters of a 16x16 box: IoU exactly 0.5 / 0.25 / 0, and one with IoU 0.7-ish
        shapes = torch.tensor([[0.0, 0.0, 16.0, 16.0], [0.0, 0.0, 16.0, 8.0], [0.0, 0.0, 8.0, 8.0],
                               [0.0, 0.0, 16.0, 11.2], [8.0, 0.0, 16.0, 16.0]])
        pick = torch.randint(0, len(shapes), (n,), generator=generator)
        shift = torch.randint(0, 3, (n, 1), generator=generator).float() * 100.0
        return shapes[pick] + shift, scores
    if kind == "chain":
        # each box overlaps its neighbours only (IoU 8/12 with the next, 6/14 with the one after),
        # scores mostly descending along the chain: the fixed point needs about N steps here
        x = torch.arange(n, dtype=torch.float32) * 2.0
        boxes = torch.stack([x, torch.zeros(n), x + 10.0, torch.full((n,), 10.0)], dim=1)
        return boxes, torch.linspace(1.0, 0.1, n) + torch.rand(n, generator=generator) * 0.01
    raise ValueError(kind)


KINDS = ("random", "all_overlapping", "none_overlapping", "tied_scores", "iou_at_threshold", "chain")


def _sizes(count):
    return list(itertools.islice(itertools.cycle(SIZES), count))


@pytest.fixture(scope="module", params=sorted(FORMULATIONS))
def multi_threshold_engine(request):
    generator = torch.Generator().manual_seed(0)
    example = random_case("random", 12, generator)
    program = export_dynamic(MultiThresholdNms(), example,
                             {"boxes": {0: (1, MAX_N)}, "scores": {0: (1, MAX_N)}})
    previous = set_formulation(request.param)
    try:
        return compile_cpu(program, require_full_compilation=True, min_block_size=1)
    finally:
        set_formulation(previous)


@pytest.mark.parametrize("kind", KINDS)
def test_nms_matches_torchvision(multi_threshold_engine, kind):
    compiled = multi_threshold_engine
    assert compiled.num_trt_engines == 1 and not compiled.pytorch_nodes
    generator = torch.Generator().manual_seed(hash(kind) % 2**31)
    kept_counts = set()
    for n in _sizes(CASES):
        boxes, scores = random_case(kind, n, generator)
        got = compiled(boxes, scores)
        for threshold, actual in zip(THRESHOLDS, got):
            expected = nms(boxes, scores, threshold)
            assert actual.dtype == torch.int64
            assert torch.equal(actual, expected), (kind, n, threshold, actual, expected)
            kept_counts.add(len(expected))
    if kind == "all_overlapping":
        assert kept_counts == {1}
    else:
        assert len(kept_counts) > 3  # the cases keep varying numbers of boxes


def test_nms_network_has_no_nms_or_nonzero_layer(multi_threshold_engine):
    network = multi_threshold_engine.engines[0].network
    types = network_layer_types(network)
    assert "NMS" not in types and "NON_ZERO" not in types
    assert types["LOOP_OUTPUT"] == len(THRESHOLDS)  # one loop per nms
    assert count_nms_layers(network) > 0


class ThresholdThenNms(torch.nn.Module):
    """Score threshold first: the NMS input count is data-dependent and may be 0."""

    def forward(self, boxes, scores):
        keep = scores > 0.6
        boxes, scores = boxes[keep], scores[keep]
        kept = nms(boxes, scores, 0.5)
        return boxes[kept], scores[kept], kept


@pytest.mark.parametrize("run_engines", ENGINE_MODES)
def test_nms_after_score_threshold_including_empty(run_engines):
    generator = torch.Generator().manual_seed(3)
    program = export_dynamic(ThresholdThenNms(), random_case("random", 12, generator),
                             {"boxes": {0: (1, MAX_N)}, "scores": {0: (1, MAX_N)}})
    compiled = compile_cpu(program, require_full_compilation=True, min_block_size=1,
                           run_engines=run_engines)
    assert compiled.num_trt_engines == 1 and not compiled.pytorch_nodes
    empty = 0
    for n in _sizes(CASES):
        boxes, scores = random_case("random", n, generator)
        if n % 2:
            scores = scores * 0.6  # nothing passes the threshold: NMS of 0 boxes
        expected = ThresholdThenNms()(boxes, scores)
        got = compiled(boxes, scores)
        empty += len(expected[2]) == 0
        for a, b in zip(got, expected):
            assert a.shape == b.shape and torch.equal(a, b)
    assert empty >= 5


class TorchvisionBatchedNms(torch.nn.Module):
    """torchvision's own ``batched_nms``: with N <= 1000 export takes the coordinate-trick branch."""

    def forward(self, boxes, scores, classes):
        return batched_nms(boxes, scores, classes, 0.5)


def _classes(n, generator, count=4):
    return torch.randint(0, count, (n,), generator=generator)


def test_torchvision_batched_nms_coordinate_trick():
    generator = torch.Generator().manual_seed(5)
    boxes, scores = random_case("random", 12, generator)
    program = export_dynamic(TorchvisionBatchedNms(), (boxes, scores, _classes(12, generator)),
                             {"boxes": {0: (1, MAX_N)}, "scores": {0: (1, MAX_N)},
                              "classes": {0: (1, MAX_N)}})
    compiled = compile_cpu(program, require_full_compilation=True, min_block_size=1)
    assert compiled.num_trt_engines == 1 and not compiled.pytorch_nodes
    for kind, n in zip(itertools.cycle(("random", "tied_scores")), _sizes(CASES)):
        boxes, scores = random_case(kind, n, generator)
        classes = _classes(n, generator)
        assert torch.equal(compiled(boxes, scores, classes), batched_nms(boxes, scores, classes, 0.5))


class ExactBatchedNms(torch.nn.Module):
    def forward(self, boxes, scores, classes):
        keep = scores > 0.2
        boxes, scores, classes = boxes[keep], scores[keep], classes[keep]
        # looked up at call time, as torchvision's detectors do (box_ops.batched_nms)
        return torchvision.ops.boxes.batched_nms(boxes, scores, classes, 0.5)


def _cross_class_overlaps(n, generator):
    """Boxes around negative coordinates: in the coordinate trick, boxes of class c and c + 1 overlap
    after shifting (torchvision suppresses across classes there), per-class NMS never does."""
    boxes = _boxes(n, generator, spread=10.0, size=(2.0, 12.0)) - 12.0
    return boxes, torch.rand(n, generator=generator) * 0.7 + 0.3, _classes(n, generator, 3)


def _branch_probe(n):
    """n boxes on which torchvision's two batched_nms branches disagree: box 1 (class 1) lands exactly on
    box 0 (class 0) after the class offset max(boxes) + 1 = 11, so only the coordinate trick suppresses it;
    the rest are disjoint class-0 boxes at negative x (no overlaps, max coordinate unchanged)."""
    fillers = n - 2
    x = -30.0 - torch.arange(fillers, dtype=torch.float32) * 2.0
    boxes = torch.cat([torch.tensor([[0.0, 0.0, 10.0, 10.0], [-11.0, -11.0, -1.0, -1.0]]),
                       torch.stack([x, torch.zeros(fillers), x + 1.0, torch.ones(fillers)], dim=1)])
    scores = torch.cat([torch.tensor([0.9, 0.8]), torch.linspace(0.7, 0.3, fillers)])
    classes = torch.cat([torch.tensor([0, 1]), torch.zeros(fillers, dtype=torch.int64)])
    return boxes, scores, classes


def test_batched_nms_op_both_torchvision_branches():
    """Through the adapter, ``trt_dyn::batched_nms`` evaluates torchvision's CPU dispatch at run time."""
    generator = torch.Generator().manual_seed(7)
    limit = VANILLA_NUMEL // 4
    example = _cross_class_overlaps(12, generator)
    with exact_batched_nms():
        program = export_dynamic(ExactBatchedNms(), example,
                                 {"boxes": {0: (1, limit + 40)}, "scores": {0: (1, limit + 40)},
                                  "classes": {0: (1, limit + 40)}})
    assert torchvision.ops.batched_nms is batched_nms  # restored
    ops = {str(node.target) for node in program.graph.nodes}
    assert "trt_dyn.batched_nms.default" in ops
    compiled = compile_cpu(program, require_full_compilation=True, min_block_size=1)
    assert compiled.num_trt_engines == 1 and not compiled.pytorch_nodes
    # count above/below the dispatch point (after the score threshold keeps every box)
    branch_differs = 0
    for n in [1, 3, 40, limit, limit + 1, limit + 40] + [2, 7, 90] * 5:
        boxes, scores, classes = _cross_class_overlaps(n, generator)
        if n in (limit, limit + 1, limit + 40):
            scores = scores.clamp(min=0.25)
        expected = ExactBatchedNms()(boxes, scores, classes)
        assert torch.equal(compiled(boxes, scores, classes), expected), n
        vanilla = torchvision.ops.boxes._batched_nms_vanilla(boxes, scores, classes, 0.5)
        branch_differs += not torch.equal(vanilla, expected)
    assert branch_differs > 0  # the cases tell the two branches apart
    for n in (limit - 1, limit, limit + 1, limit + 2):
        boxes, scores, classes = _branch_probe(n)
        expected = ExactBatchedNms()(boxes, scores, classes)
        assert (1 in expected.tolist()) == (n > limit)  # per-class above 1000 boxes, offsets below
        assert torch.equal(compiled(boxes, scores, classes), expected), n


def test_float32_threshold_decides_like_a_double():
    for threshold in (0.5, 0.7, 0.3, 0.1, 1 / 3, 0.0):
        as_float = np.float32(float32_threshold(threshold))
        assert float(as_float) <= threshold
        above = np.nextafter(as_float, np.float32(np.inf))
        assert float(above) > threshold  # every float32 IoU is decided as the double compare does


class HalfNms(torch.nn.Module):
    def forward(self, boxes, scores):
        return nms(boxes.half(), scores.half(), 0.5)


def test_half_boxes_refused_with_op_and_node():
    generator = torch.Generator().manual_seed(1)
    program = export_dynamic(HalfNms(), random_case("random", 8, generator),
                             {"boxes": {0: (1, 32)}, "scores": {0: (1, 32)}})
    with pytest.raises(Exception) as caught:
        compile_cpu(program, require_full_compilation=True, min_block_size=1)
    error = find_converter_error(caught.value)
    assert isinstance(error, ConverterError)
    assert "torchvision.nms" in str(error) and "float32" in str(error)
