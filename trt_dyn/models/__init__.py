"""trt_dyn.models: in-repo replicas of models whose dynamic shapes upstream Torch-TensorRT cannot compile.

Not imported by ``import trt_dyn`` (it pulls in torchvision); import ``trt_dyn.models`` explicitly.
"""

from .cascade_mask_rcnn import CascadeConfig, CascadeMaskRCNN, build_cascade_mask_rcnn  # noqa: F401
from .export import DynamicImageSize, ExportError, export_cascade, image_size_ranges  # noqa: F401
