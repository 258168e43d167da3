"""trt_dyn.models: in-repo replicas of models whose dynamic shapes upstream Torch-TensorRT cannot compile.

Not imported by ``import trt_dyn`` (it pulls in torchvision); import ``trt_dyn.models`` explicitly.
"""

from .cascade_mask_rcnn import (  # noqa: F401
    CascadeConfig,
    CascadeMaskRCNN,
    build_cascade_mask_rcnn,
    cascade_benchmark_model,
)
from .export import DynamicImageSize, ExportError, export_cascade, image_size_ranges  # noqa: F401
