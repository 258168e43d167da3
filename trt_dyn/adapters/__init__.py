"""Export adapters: scoped changes that get models users bring through ``torch.export`` with dynamic sizes.

See docs/adapters.md. Every adapter undoes what it changed when its block (or call) ends.
"""

from .export import export_image_model
from .swin import ExportableSwin, swin_export_mode
from .torchvision_detection import (
    NMS_MODES,
    DetectorOutputs,
    TopkInsteadOfNmsWarning,
    detection_export_mode,
    topk_instead_of_nms,
)

__all__ = ["detection_export_mode", "topk_instead_of_nms", "DetectorOutputs", "export_image_model", "NMS_MODES",
           "TopkInsteadOfNmsWarning", "swin_export_mode", "ExportableSwin"]
