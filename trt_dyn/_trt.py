"""The TensorRT flavour in use, resolved through torch_tensorrt.

torch_tensorrt aliases either ``tensorrt`` (full TensorRT, datacenter GPUs) or ``tensorrt_rtx``
(TensorRT-RTX) as the module ``tensorrt``; trt_dyn code imports ``trt`` from here and never names a
flavour, so the same converters serve both.
"""

from __future__ import annotations

from . import no_gpu

no_gpu.install()

import torch_tensorrt  # noqa: E402  (needs the shim on machines without a CUDA device)
import tensorrt as trt  # noqa: E402  (the flavour torch_tensorrt selected)
from torch_tensorrt._features import ENABLED_FEATURES  # noqa: E402

no_gpu.patch_runtime(trt)

IS_RTX: bool = bool(ENABLED_FEATURES.tensorrt_rtx)
FLAVOR: str = "tensorrt-rtx" if IS_RTX else "tensorrt"

__all__ = ["trt", "torch_tensorrt", "IS_RTX", "FLAVOR"]
