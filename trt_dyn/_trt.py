"""The TensorRT flavour in use, resolved through torch_tensorrt.

torch_tensorrt aliases either ``tensorrt`` (full TensorRT, datacenter GPUs) or ``tensorrt_rtx``
(TensorRT-RTX) as the module ``tensorrt``; trt_dyn code imports ``trt`` from here and never names a
flavour, so the same converters serve both.
"""

from __future__ import annotations

from . import no_gpu

no_gpu.install()

try:
    import torch_tensorrt  # noqa: E402  (needs the shim on machines without a CUDA device)
except ModuleNotFoundError as missing:
    if missing.name != "torch_tensorrt":
        raise
    raise ImportError(
        "trt_dyn needs torch_tensorrt, which comes in two flavours that cannot be installed together: "
        "`pip install trt_dyn[rtx]` (TensorRT-RTX: RTX GPUs, and building engines on machines without a GPU) "
        "or `pip install trt_dyn[trt]` (full TensorRT: datacenter GPUs)."
    ) from missing
import tensorrt as trt  # noqa: E402  (the flavour torch_tensorrt selected)
from ._hooks import enabled_features  # noqa: E402

no_gpu.patch_runtime(trt)

import torch  # noqa: E402

IS_RTX: bool = bool(enabled_features().tensorrt_rtx)

#: TensorRT data types with an exact torch counterpart (both flavours have all of these)
TRT_TO_TORCH = {
    trt.DataType.FLOAT: torch.float32,
    trt.DataType.HALF: torch.float16,
    trt.DataType.BF16: torch.bfloat16,
    trt.DataType.INT32: torch.int32,
    trt.DataType.INT64: torch.int64,
    trt.DataType.INT8: torch.int8,
    trt.DataType.UINT8: torch.uint8,
    trt.DataType.BOOL: torch.bool,
}
TORCH_TO_TRT = {value: key for key, value in TRT_TO_TORCH.items()}
FLAVOR: str = "tensorrt-rtx" if IS_RTX else "tensorrt"

__all__ = ["trt", "torch_tensorrt", "IS_RTX", "FLAVOR", "TRT_TO_TORCH", "TORCH_TO_TRT"]
