"""The export adapters are scoped (everything restored, also on error), say when NMS is replaced, and refuse
programs that specialized the image size."""

import warnings

import pytest
import torch

torchvision = pytest.importorskip("torchvision")

from torchvision.models.detection import _utils as det_utils  # noqa: E402
from torchvision.ops import boxes as box_ops  # noqa: E402
from torchvision.ops import poolers  # noqa: E402

from trt_dyn.adapters import (  # noqa: E402
    DetectorOutputs,
    TopkInsteadOfNmsWarning,
    detection_export_mode,
    export_image_model,
)
from trt_dyn.models.export import ExportError  # noqa: E402


def _tiny_detector():
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.backbone_utils import BackboneWithFPN
    from torchvision.models import resnet18

    torch.manual_seed(0)
    backbone = BackboneWithFPN(resnet18(weights=None), {"layer2": "0", "layer3": "1"}, [128, 256], 32)
    anchors = AnchorGenerator(((16,), (32,), (64,)), ((0.5, 1.0, 2.0),) * 3)
    return FasterRCNN(backbone, num_classes=3, rpn_anchor_generator=anchors, min_size=64, max_size=128, rpn_pre_nms_top_n_test=20,
                      rpn_post_nms_top_n_test=10, box_detections_per_img=5, box_score_thresh=0.0).eval()


def _patched_names(model):
    import torchvision.ops

    return {
        "batched_nms": box_ops.batched_nms, "ops.batched_nms": torchvision.ops.batched_nms,
        "_topk_min": det_utils._topk_min, "_infer_scale": poolers._infer_scale,
        "_multiscale_roi_align": poolers._multiscale_roi_align, "decode": det_utils.BoxCoder.decode,
        "instance": {k for k in ("resize", "batch_images", "postprocess") if k in vars(model.transform)},
    }


@pytest.mark.parametrize("nms", ["exact", "topk"])
def test_detection_export_mode_restores_everything(nms):
    model = _tiny_detector()
    before = _patched_names(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TopkInsteadOfNmsWarning)
        with detection_export_mode(model, nms=nms):
            inside = _patched_names(model)
    assert _patched_names(model) == before
    assert before["instance"] == set()
    assert inside["instance"] == {"resize", "batch_images", "postprocess"}
    assert inside["batched_nms"] is not before["batched_nms"]
    with pytest.raises(RuntimeError, match="boom"):
        with detection_export_mode(model, nms=nms):
            raise RuntimeError("boom")
    assert _patched_names(model) == before


def test_topk_instead_of_nms_only_when_asked_and_says_so():
    model = DetectorOutputs(_tiny_detector(), nms="exact")
    image = torch.rand(1, 3, 64, 96)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TopkInsteadOfNmsWarning)
        model(image)  # exact NMS: no warning
    model.nms = "topk"
    with pytest.warns(TopkInsteadOfNmsWarning, match="does not suppress"):
        model(image)
    with pytest.raises(ValueError, match="nms must be one of"):
        DetectorOutputs(_tiny_detector(), nms="none")


def test_exact_mode_keeps_the_models_detections():
    """Under the adapter (no resize: the image is already at the network's size) the detections equal the model's
    own on an image the transform would not resize, at an unchanged size (64 x 128: min_size 64, max_size 128)."""
    detector = _tiny_detector()
    image = torch.rand(1, 3, 64, 128)
    with torch.no_grad():
        own = detector(image)[0]
        adapted = DetectorOutputs(detector, keys=("boxes", "scores", "labels"))(image)
    for key, value in zip(("boxes", "scores", "labels"), adapted):
        torch.testing.assert_close(value, own[key], rtol=1e-5, atol=1e-4)


class BranchesOnHeight(torch.nn.Module):
    def forward(self, x):
        return x * 2 if x.shape[2] > 300 else x + 1


def test_export_image_model_refuses_a_specialized_size():
    with pytest.raises(ExportError):
        export_image_model(BranchesOnHeight(), (256, 256), (512, 512), step=32)


def test_export_image_model_keeps_both_sizes_dynamic():
    class Pool(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.adaptive_avg_pool2d(x, 1) + x.shape[2] / x.shape[3]

    program = export_image_model(Pool(), (64, 64), (128, 160), step=1, check_sizes=[(64, 160), (128, 64)])
    ranges = sorted((int(r.lower), int(r.upper)) for r in program.range_constraints.values())
    assert ranges == [(64, 128), (64, 160)]


def _v2_style_detector():
    """fasterrcnn_resnet50_fpn_v2's heads (a 2-conv RPN head; a box head of 4 conv + BatchNorm layers and a linear
    layer) on a small ResNet-18 FPN: its box head normalizes a data-dependent number of proposals."""
    from functools import partial

    from torchvision.models import resnet18
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.backbone_utils import BackboneWithFPN
    from torchvision.models.detection.faster_rcnn import FastRCNNConvFCHead, FastRCNNPredictor
    from torchvision.models.detection.rpn import RPNHead

    from trt_dyn.models.zoo import calibrate_batch_norm

    torch.manual_seed(0)
    backbone = BackboneWithFPN(resnet18(weights=None), {"layer2": "0", "layer3": "1"}, [128, 256], 32)
    anchors = AnchorGenerator(((16,), (32,), (64,)), ((0.5, 1.0, 2.0),) * 3)
    box_head = FastRCNNConvFCHead((32, 7, 7), [32, 32, 32, 32], [64], norm_layer=partial(torch.nn.BatchNorm2d))
    model = FasterRCNN(backbone, rpn_anchor_generator=anchors, rpn_head=RPNHead(32, 3, conv_depth=2),
                       box_head=box_head, box_predictor=FastRCNNPredictor(64, 3), min_size=64, max_size=128,
                       rpn_pre_nms_top_n_test=20, rpn_post_nms_top_n_test=10, box_detections_per_img=5,
                       box_score_thresh=0.0)
    return calibrate_batch_norm(model.eval(), image_sizes=((64, 96), (96, 64)))


def test_box_head_batch_norm_on_a_data_dependent_number_of_proposals():
    """torch.export cannot trace an eval BatchNorm over a data-dependent batch ("Could not guard on data-dependent
    expression Eq(196*Min(50, u0), 0)"): the adapter computes it as the affine map it is in eval mode."""
    from torchvision.models.detection.faster_rcnn import FastRCNNConvFCHead

    from trt_dyn.testing import compile_cpu

    detector = _v2_style_detector()
    norms = [m for m in detector.roi_heads.box_head.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert isinstance(detector.roi_heads.box_head, FastRCNNConvFCHead) and len(norms) == 4
    model = DetectorOutputs(detector).eval()
    program = export_image_model(model, (64, 64), (128, 128), step=32, example_hw=(96, 64))
    compiled = compile_cpu(program, require_full_compilation=True, min_block_size=1)
    assert compiled.num_trt_engines == 1 and compiled.pytorch_nodes == []
    for index, hw in enumerate([(64, 64), (128, 128), (96, 128)]):
        image = torch.rand(1, 3, *hw, generator=torch.Generator().manual_seed(index))
        # the model's own forward, outside the adapter, at sizes its transform keeps (scale 1: the identity resize)
        detector.transform.min_size, detector.transform.max_size = (min(hw),), max(hw)
        with torch.no_grad():
            want = detector(image)[0]
            got = compiled(image)
        assert got[0].shape[0] == want["boxes"].shape[0] > 0
        torch.testing.assert_close(got[2], want["labels"], rtol=0, atol=0)
        torch.testing.assert_close(got[1], want["scores"], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(got[0], want["boxes"], rtol=1e-4, atol=1e-3)
    assert all(type(m).forward is torch.nn.BatchNorm2d.forward and "forward" not in vars(m) for m in norms)
