"""Whether a TensorRT engine can run here, and if not, why (used by the ``gpu`` pytest marker)."""

from __future__ import annotations

from typing import Optional

import torch

from .. import no_gpu
from .._trt import IS_RTX

# TensorRT-RTX targets RTX (client) GPUs: Turing and newer, but not the Hopper datacenter parts
# (measured: H100 / H200, compute capability 9.0, are refused at run time).
_RTX_REFUSED = {(9, 0)}
_RTX_MINIMUM = (7, 5)


def gpu_skip_reason() -> Optional[str]:
    """None when TensorRT engines can run on this machine, else the reason they cannot."""
    if no_gpu.is_active() or not torch.cuda.is_available():
        return "no CUDA device: TensorRT engines cannot run here (engines are still built on the CPU)"
    capability = torch.cuda.get_device_capability()
    if IS_RTX and (capability in _RTX_REFUSED or capability < _RTX_MINIMUM):
        return "TensorRT-RTX cannot run on compute capability %d.%d" % capability
    return None
