"""Getting torchvision detectors through ``torch.export`` with the image height and width symbolic.

Everything here is scoped: :func:`detection_export_mode` patches what it must on entry and restores every
original on exit (also on error), so a model used eagerly afterwards behaves exactly as before.

What torchvision does that ``torch.export`` cannot keep dynamic, and what the adapter does instead:

* ``GeneralizedRCNNTransform.resize`` computes the resized size with float arithmetic on the image size; the
  adapter skips the resize (the caller feeds images already at the size the network should see) unless the
  transform has a ``fixed_size`` (SSD: resize to a constant size, kept);
* ``batch_images`` pads with ``math.ceil`` on floats; the adapter requires H and W to be multiples of
  ``size_divisible`` (checked with ``torch._check``, so it becomes an export guard) and stacks without padding;
* ``transform.postprocess`` maps boxes back to the original size (a no-op without resize) and pastes masks into
  the image with a Python loop over detections; the adapter returns the detections in input coordinates and
  Mask R-CNN's masks as per-detection ``(N, 1, 28, 28)`` probabilities;
* ``MultiScaleRoIAlign`` infers each level's scale by rounding a float ratio of sizes (specializes H and W); the
  adapter reads the ratio at the traced size: it is the level's stride, the same at every size;
* ``MultiScaleRoIAlign`` sizes its result with ``len(rois)`` and scatters per-level results by nonzero indices;
  the adapter pools every box on every level and selects by level (same values, no data-dependent shape);
* ``BoxCoder.decode`` branches on the total box count being positive; the adapter decodes without the branch;
* ``_topk_min`` takes Python ``min`` of an int and a symbolic size (a guard); the adapter uses ``torch.sym_min``;
* Keypoint R-CNN's ``heatmaps_to_keypoints`` resizes each detection's heatmap to a size read from its box with
  ``.item()``, in a Python loop over the detections; the adapter decodes all detections at once on a grid bounded
  by the image size (:mod:`trt_dyn.adapters.keypoints`: the same bicubic maps up to float rounding, masked to each
  box's size; positions equal torchvision's except on near-ties within that rounding);
* The RoI heads of the ``_v2`` detectors (``FastRCNNConvFCHead``, ``MaskRCNNHeads`` with a norm layer) run BatchNorm
  over the proposals, whose number is data-dependent; torch.export cannot trace an eval BatchNorm over such a batch
  (its meta guards on the element count being 0). The adapter computes every eval BatchNorm of the RoI heads as the
  affine map it is, ``x * scale + shift`` per channel (the form PyTorch's own inference kernel evaluates);
* NMS: ``nms="exact"`` (default) runs torchvision's ``batched_nms`` as the one op ``trt_dyn::batched_nms``
  (:func:`trt_dyn.adapters.postprocess.exact_batched_nms`: same kept indices, built from native layers);
  only when the caller asks for ``nms="topk"`` is every ``batched_nms`` replaced by "keep all, sorted by
  descending score" (top-k over the whole set). That is **not** the model's post-processing: detections that
  NMS would suppress remain. It warns (:class:`TopkInsteadOfNmsWarning`).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from typing import Any, Callable, Dict, Iterator, List, Tuple

import torch
from torch import nn

from .keypoints import heatmaps_to_keypoints_bounded
from .postprocess import exact_batched_nms

__all__ = ["detection_export_mode", "topk_instead_of_nms", "DetectorOutputs", "NMS_MODES", "TopkInsteadOfNmsWarning"]

NMS_MODES = ("exact", "topk")


class TopkInsteadOfNmsWarning(UserWarning):
    """The exported detector sorts by score instead of running NMS (asked for with ``nms="topk"``)."""


@contextlib.contextmanager
def _patched(owner: Any, name: str, replacement: Any) -> Iterator[None]:
    had_own = name in vars(owner)  # else it comes from the class: deleting ours restores it
    original = vars(owner).get(name)
    setattr(owner, name, replacement)
    try:
        yield
    finally:
        if had_own:
            setattr(owner, name, original)
        else:
            delattr(owner, name)


def _scores_descending(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, iou_threshold: float):
    """Indices of all boxes by descending score: what ``batched_nms`` returns when it suppresses nothing."""
    return scores.topk(scores.shape[0]).indices


@contextlib.contextmanager
def topk_instead_of_nms() -> Iterator[None]:
    """Replace ``torchvision.ops.boxes.batched_nms`` by a descending-score sort while the block runs."""
    from torchvision.ops import boxes as box_ops

    warnings.warn(
        "trt_dyn.adapters: batched_nms replaced by a descending-score top-k (nms='topk'); the exported model "
        "does not suppress overlapping boxes",
        TopkInsteadOfNmsWarning,
        stacklevel=3,
    )
    import torchvision.ops

    with _patched(box_ops, "batched_nms", _scores_descending), \
            _patched(torchvision.ops, "batched_nms", _scores_descending):
        yield


def _topk_min(input: torch.Tensor, orig_kval: int, axis: int):
    return torch.sym_min(orig_kval, input.size(axis))


def _multiscale_roi_align(x_filtered, boxes, output_size, sampling_ratio, scales, mapper):
    # torchvision pools each level's boxes after a nonzero and scatters them back, sizing the result with
    # len(rois) (a guard on a data-dependent count). Pooling every box on every level and selecting by level
    # gives the same values (roi_align is per box) with no data-dependent shape.
    from torchvision.ops import poolers
    from torchvision.ops.roi_align import roi_align

    if scales is None or mapper is None:
        raise ValueError("scales and mapper should not be None")
    rois = poolers._convert_to_roi_format(boxes)
    if len(x_filtered) == 1:
        return roi_align(x_filtered[0], rois, output_size, scales[0], sampling_ratio)
    levels = mapper(boxes)[:, None, None, None]
    result = None
    for level, (feature, scale) in enumerate(zip(x_filtered, scales)):
        pooled = roi_align(feature, rois, output_size, scale, sampling_ratio)
        result = pooled if result is None else torch.where(levels == level, pooled, result)
    return result


def _infer_scale(feature: torch.Tensor, original_size: List[Any]) -> float:
    # torchvision rounds log2(feature size / image size) through a tensor, which specializes H and W. The
    # result is the level's stride, fixed by the architecture (the ratio stays within a factor sqrt(2) of
    # 1/stride for any image of at least a few strides), so reading it at the traced size is exact.
    ratio = _size_hint(feature.shape[-2]) / _size_hint(original_size[0])
    return 2.0 ** round(math.log2(ratio))


def _size_hint(size: Any) -> int:
    return int(size.node.hint) if isinstance(size, torch.SymInt) else int(size)


def _decode(self, rel_codes: torch.Tensor, boxes: List[torch.Tensor]) -> torch.Tensor:
    # BoxCoder.decode branches on "total box count > 0" (a guard on a data-dependent count). Every caller passes
    # rel_codes as (count, classes * 4) rows matching the concatenated boxes, so no reshape of it is needed.
    pred_boxes = self.decode_single(rel_codes, torch.cat(boxes, dim=0))
    return pred_boxes.unflatten(1, (-1, 4))


def _affine_batch_norm(norm: nn.modules.batchnorm._BatchNorm) -> Callable:
    """An eval BatchNorm's forward as ``x * scale + shift`` with per-channel scale and shift from its statistics."""

    def forward(x: torch.Tensor) -> torch.Tensor:
        scale = torch.rsqrt(norm.running_var + norm.eps)
        if norm.weight is not None:
            scale = scale * norm.weight
        shift = -norm.running_mean * scale
        if norm.bias is not None:
            shift = shift + norm.bias
        per_channel = (1, -1) + (1,) * (x.dim() - 2)
        return x * scale.reshape(per_channel) + shift.reshape(per_channel)

    return forward


def _eval_batch_norms(module: nn.Module) -> List[nn.modules.batchnorm._BatchNorm]:
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and not m.training
            and m.track_running_stats and m.running_mean is not None]


def _unresized(transform: nn.Module) -> Callable:
    def resize(image, target=None):
        return image, target

    return resize


def _stacked(transform: nn.Module) -> Callable:
    def batch_images(images: List[torch.Tensor], size_divisible: int = 32) -> torch.Tensor:
        for image in images:
            for size in image.shape[-2:]:
                torch._check(size % size_divisible == 0)
        return torch.stack(images)

    return batch_images


def _unpasted(result: List[Dict[str, torch.Tensor]], image_shapes: Any, original_image_sizes: Any):
    return result


def _recording_image_shapes(roi_heads: nn.Module, image_shapes_seen: List[Any]) -> Callable:
    forward = roi_heads.forward

    def recording_forward(features, proposals, image_shapes, targets=None):
        image_shapes_seen[:] = [image_shapes]
        return forward(features, proposals, image_shapes, targets)

    return recording_forward


def _bounded_keypoint_inference(image_shapes_seen: List[Any]) -> Callable:
    # torchvision's keypointrcnn_inference with heatmaps_to_keypoints replaced by the batched form. The grid bound
    # is each image's size: postprocess_detections clips the boxes to the image, so ceil(box size) fits in it.
    def keypointrcnn_inference(x: torch.Tensor, boxes: List[torch.Tensor]):
        if not image_shapes_seen:
            raise RuntimeError("trt_dyn.adapters: keypointrcnn_inference called outside the detector's roi_heads")
        probabilities, scores = [], []
        for maps, rois, (height, width) in zip(x.split([b.shape[0] for b in boxes], dim=0), boxes,
                                                image_shapes_seen[0]):
            keypoints, keypoint_scores = heatmaps_to_keypoints_bounded(maps, rois, height, width)
            probabilities.append(keypoints)
            scores.append(keypoint_scores)
        return probabilities, scores

    return keypointrcnn_inference


@contextlib.contextmanager
def detection_export_mode(model: nn.Module, nms: str = "exact") -> Iterator[nn.Module]:
    """Make a torchvision detector exportable with symbolic H and W while the block runs; yields ``model``.

    ``nms``: ``"exact"`` (default) keeps the model's NMS, as one traceable op; ``"topk"`` replaces it by a score
    sort (see module doc).
    """
    if nms not in NMS_MODES:
        raise ValueError(f"detection_export_mode: nms must be one of {NMS_MODES}, got {nms!r}")
    from torchvision.models.detection import _utils as det_utils
    from torchvision.models.detection import roi_heads as roi_heads_module
    from torchvision.ops import poolers

    transform = getattr(model, "transform", None)
    roi_heads = getattr(model, "roi_heads", None)
    with contextlib.ExitStack() as stack:
        stack.enter_context(_patched(det_utils, "_topk_min", _topk_min))
        stack.enter_context(_patched(det_utils.BoxCoder, "decode", _decode))
        stack.enter_context(_patched(poolers, "_infer_scale", _infer_scale))
        stack.enter_context(_patched(poolers, "_multiscale_roi_align", _multiscale_roi_align))
        if transform is not None:
            if getattr(transform, "fixed_size", None) is None:
                stack.enter_context(_patched(transform, "resize", _unresized(transform)))
            stack.enter_context(_patched(transform, "batch_images", _stacked(transform)))
            stack.enter_context(_patched(transform, "postprocess", _unpasted))
        if roi_heads is not None and getattr(roi_heads, "keypoint_predictor", None) is not None:
            image_shapes_seen: List[Any] = []
            stack.enter_context(_patched(roi_heads, "forward", _recording_image_shapes(roi_heads, image_shapes_seen)))
            stack.enter_context(_patched(roi_heads_module, "keypointrcnn_inference",
                                         _bounded_keypoint_inference(image_shapes_seen)))
        for norm in _eval_batch_norms(roi_heads) if roi_heads is not None else ():
            stack.enter_context(_patched(norm, "forward", _affine_batch_norm(norm)))
        stack.enter_context(topk_instead_of_nms() if nms == "topk" else exact_batched_nms())
        yield model


class DetectorOutputs(nn.Module):
    """A torchvision detector taking one image batch ``(1, 3, H, W)`` and returning ``keys`` of its detections.

    Every call runs inside :func:`detection_export_mode` (so eager calls and the exported program see the same
    model). ``nms`` as for :func:`detection_export_mode`.
    """

    def __init__(self, detector: nn.Module, keys: Tuple[str, ...] = ("boxes", "scores", "labels"), nms: str = "exact"):
        super().__init__()
        if nms not in NMS_MODES:
            raise ValueError(f"DetectorOutputs: nms must be one of {NMS_MODES}, got {nms!r}")
        self.detector = detector
        self.keys = tuple(keys)
        self.nms = nms

    def forward(self, images: torch.Tensor):
        with detection_export_mode(self.detector, nms=self.nms):
            detections = self.detector(images)
        if isinstance(detections, tuple):  # scripting-style (losses, detections)
            detections = detections[1]
        return tuple(detections[0][key] for key in self.keys)
