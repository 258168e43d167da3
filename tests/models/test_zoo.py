"""The model zoo (trt_dyn/models/zoo.py): each model compiles with require_full_compilation=True to one engine with
no PyTorch node and the CPU executor matches eager at the min, max and an odd image size.

Detections are compared up to the order of tied scores (trt_dyn.models.zoo.compare_detections proves every
difference is such a reordering). Every model builds for more than 30 s on 2 cores: all are marked slow (they still
run in CI).
"""

import warnings

import pytest
import torch

pytest.importorskip("torchvision")

from trt_dyn.models.zoo import (  # noqa: E402
    ZOO,
    ZooMismatchError,
    build_zoo_model,
    compare_detections,
    compare_zoo_outputs,
    export_zoo_model,
    zoo_input,
)
from trt_dyn.testing import compile_cpu  # noqa: E402

#: models that do not compile to one engine yet, with the reason (the zoo table in benchmarks/ shows them too)
NOT_YET = {
}


SSDLITE = "ssdlite320_mobilenet_v3_large"
#: models with a test of their own below (the same checks, plus what explains their tolerance)
OWN_TEST = {SSDLITE}


def compile_zoo_model(name, model):
    """Export (H, W dynamic, checked) and compile with require_full_compilation: one engine, no PyTorch node."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = export_zoo_model(name, model)
        compiled = compile_cpu(program, require_full_compilation=True, min_block_size=1)
    assert compiled.num_trt_engines == 1
    assert compiled.pytorch_nodes == []
    return program, compiled


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in ZOO if n not in NOT_YET and n not in OWN_TEST])
def test_zoo_model_compiles_to_one_engine_and_matches_eager(name):
    entry = ZOO[name]
    model = build_zoo_model(name)
    program, compiled = compile_zoo_model(name, model)
    for index, hw in enumerate(entry.test_sizes):
        images = zoo_input(hw, seed=100 + index)
        with torch.no_grad():
            expected = model(images)
            actual = compiled(images)
        if entry.output_keys:
            assert expected[0].shape[0] > 0, f"{name} at {hw}: eager keeps no detection; the check would be empty"
        compare_zoo_outputs(name, actual, expected)


def _detections(scores, labels, boxes):
    return torch.tensor(boxes, dtype=torch.float32), torch.tensor(scores), torch.tensor(labels)


def test_compare_detections_accepts_reordered_ties_only():
    keys = ("boxes", "scores", "labels")
    eager = _detections([0.9, 0.5, 0.5, 0.1], [1, 2, 3, 1], [[0, 0, 1, 1], [1, 1, 2, 2], [2, 2, 3, 3], [3, 3, 4, 4]])
    swapped = _detections([0.9, 0.5, 0.5, 0.1], [1, 3, 2, 1], [[0, 0, 1, 1], [2, 2, 3, 3], [1, 1, 2, 2], [3, 3, 4, 4]])
    assert compare_detections(swapped, eager, keys, 1e-4, 1e-6) == {"reordered_ties": 2}
    assert compare_detections(eager, eager, keys, 1e-4, 1e-6) == {"reordered_ties": 0}
    # the same label moved outside its run of equal scores, or a box changed inside a run: real differences
    wrong_label = _detections([0.9, 0.5, 0.5, 0.1], [1, 3, 3, 1], [[0, 0, 1, 1], [1, 1, 2, 2], [2, 2, 3, 3], [3, 3, 4, 4]])
    with pytest.raises(ZooMismatchError, match="not a tie"):
        compare_detections(wrong_label, eager, keys, 1e-4, 1e-6)
    moved_box = _detections([0.9, 0.5, 0.5, 0.1], [1, 3, 2, 1], [[0, 0, 1, 1], [2, 2, 3, 3], [1, 1, 2, 9], [3, 3, 4, 4]])
    with pytest.raises(ZooMismatchError, match="not a tie"):
        compare_detections(moved_box, eager, keys, 1e-4, 1e-6)
    other_scores = _detections([0.9, 0.6, 0.5, 0.1], [1, 2, 3, 1], [[0, 0, 1, 1], [1, 1, 2, 2], [2, 2, 3, 3], [3, 3, 4, 4]])
    with pytest.raises(ZooMismatchError, match="scores differ"):
        compare_detections(other_scores, eager, keys, 1e-4, 1e-6)


# ----------------------------------------------------------------------------------------------
# SSDlite: its whole network runs at 320x320 after a bilinear resize of the (dynamic) input; that resize is the only
# place its compiled outputs differ from eager by more than rtol 1e-4 (shown by feeding eager the engine's resize)


class NormalizeAndResize(torch.nn.Module):
    """SSD's transform before the backbone (normalize, bilinear resize to its fixed 320x320), alone."""

    def __init__(self, transform):
        super().__init__()
        self.transform = transform

    def forward(self, images):
        image, _ = self.transform.resize(self.transform.normalize(images[0]), None)
        return image[None]


@pytest.fixture(scope="module")
def ssdlite_engine_resize():
    """The resize compiled alone (same converter as inside the model): images -> the engine's resized image."""
    from trt_dyn.adapters import export_image_model

    entry = ZOO[SSDLITE]
    program = export_image_model(NormalizeAndResize(entry.build().transform), entry.min_hw, entry.max_hw,
                                 step=entry.step)
    return compile_cpu(program, require_full_compilation=True, min_block_size=1)


def eager_on_resized(model, transform, images, resized):
    """Eager ``model(images)`` with the transform's resize replaced by the given resized image."""
    from unittest import mock

    with mock.patch.object(transform, "resize", lambda image, target=None: (resized[0], target)), torch.no_grad():
        return model(images)


@pytest.mark.slow
def test_ssdlite_matches_eager_and_differs_only_through_the_input_resize(ssdlite_engine_resize):
    entry = ZOO[SSDLITE]
    model = build_zoo_model(SSDLITE)
    program, compiled = compile_zoo_model(SSDLITE, model)
    # the model's own NMS (torchvision's per-class branch at its 1200 candidates), from native layers
    assert "trt_dyn.batched_nms.default" in {str(node.target) for node in program.graph.nodes}
    network = compiled.engines[0].network
    layer_types = {network.get_layer(i).type.name for i in range(network.num_layers)}
    assert "NMS" not in layer_types and "NON_ZERO" not in layer_types
    for index, hw in enumerate(entry.test_sizes):
        images = zoo_input(hw, seed=100 + index)
        with torch.no_grad():
            expected = model(images)
            actual = compiled(images)
        assert expected[0].shape[0] > 0
        compare_zoo_outputs(SSDLITE, actual, expected)  # the entry's tolerance, from the resize
        fed_the_engine_resize = eager_on_resized(model, model.detector.transform, images,
                                                 ssdlite_engine_resize(images))
        compare_detections(actual, fed_the_engine_resize, entry.output_keys, 1e-4, 1e-5)


@pytest.mark.slow
def test_ssdlite_topk_mode_differences_from_eager_all_come_from_the_input_resize(ssdlite_engine_resize):
    """Issue 10: with NMS replaced by top-k, 117 of 1200 box values differed from eager. Not a bug: fed the
    engine's own 320x320 resize, eager gives the same 300 detections, position by position except at most a few
    swapped inside runs of scores equal within 1e-5 (each swapped detection equals an eager one of its run: boxes
    within 1e-4, labels exact; the rest of the network's float order differs by ~1e-6); against plain eager, the
    resize's float difference (up to 5e-5) moves scores by up to 2e-4, which swaps detections whose scores are that
    close (300 detections sorted by score, no NMS to space them out)."""
    from trt_dyn.adapters import DetectorOutputs
    from trt_dyn.models.zoo import calibrate_batch_norm

    entry = ZOO[SSDLITE]
    detector = entry.build()
    detector.detections_per_img = 300  # 1200 box values, as in the issue
    model = DetectorOutputs(detector, entry.output_keys, nms="topk")
    calibrate_batch_norm(model, [entry.min_hw, entry.odd_hw])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = export_zoo_model(SSDLITE, model.eval())
        compiled = compile_cpu(program, require_full_compilation=True, min_block_size=1)
        assert compiled.num_trt_engines == 1 and compiled.pytorch_nodes == []
        for index, hw in enumerate([entry.max_hw, entry.odd_hw]):
            images = zoo_input(hw, seed=101 + index)
            with torch.no_grad():
                actual = compiled(images)
            assert actual[0].shape == (300, 4)
            fed_the_engine_resize = eager_on_resized(model, detector.transform, images, ssdlite_engine_resize(images))
            # raises on any difference that is not a reordering inside a run of equal scores
            reordered = compare_detections(actual, fed_the_engine_resize, entry.output_keys, 1e-4, 1e-5)
            assert reordered["reordered_ties"] <= 3, reordered
