"""trt_dyn: dynamic-shape models to TensorRT through Torch-TensorRT's Dynamo path, without partitioning.

``import trt_dyn`` (before ``torch_tensorrt.dynamo.compile``) registers the ``trt_dyn::*_dyn`` ops,
their TensorRT converters and the static-to-dyn lowering pass. Importing it again, or after
torch_tensorrt, is harmless: every registration is idempotent.
"""

from __future__ import annotations

from ._trt import FLAVOR, IS_RTX, torch_tensorrt, trt  # noqa: F401  (shim first, then torch_tensorrt)
from . import no_gpu  # noqa: F401

__version__ = "0.1.0"

# Registration order matters: ops must exist before converters and lowering refer to them.
from . import ops  # noqa: E402,F401
from . import converters  # noqa: E402,F401
from . import lowering  # noqa: E402,F401
from . import build  # noqa: E402,F401  (trt_dyn.build.build_engine without a second import)
from .lowering import MissingDynVariantError, lower, report  # noqa: E402,F401
from .cpp_ops import load_cpp_ops  # noqa: E402,F401  (the C++ kernels of the ops; docs/deploy.md)

#: subpackages that register nothing load on first use, so ``trt_dyn.aot.compile_to_file(...)`` and
#: ``trt_dyn.testing.compile_cpu(...)`` work after ``import trt_dyn`` without slowing that import down
_ON_FIRST_USE = ("adapters", "aot", "cli", "demo", "models", "tables", "testing")


def __getattr__(name: str):
    if name in _ON_FIRST_USE:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
