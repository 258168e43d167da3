"""trt_dyn.ops: the ``trt_dyn::*_dyn`` op library (the dyn IR).

Importing this package registers every op. ``ALL_OPS`` maps op name -> ``OpOverload``
(``torch.ops.trt_dyn.<name>.default``) so converter authors can check coverage.
Shape values are int64 CPU tensors (0-d: one size, 1-d: a shape); see docs/dyn_ir.md.
"""

from ._registry import ALL_OPS, FLOAT_SHAPE_DTYPE, PYTHON_ONLY_OPS, SHAPE_DTYPE, cpp_kernel_ops  # noqa: F401
from . import shape, arith, views, creation, slicing, resize, topk  # noqa: F401,E402
from . import selection  # noqa: F401,E402  (trt_dyn::nonzero_bounded)
from . import guards  # noqa: F401,E402  (trt_dyn::shape_guard_dyn)
import importlib.util as _util

if _util.find_spec("torchvision") is not None:
    from . import nms  # noqa: F401,E402  (trt_dyn::batched_nms)

__all__ = ["ALL_OPS", "PYTHON_ONLY_OPS", "cpp_kernel_ops", "SHAPE_DTYPE", "FLOAT_SHAPE_DTYPE"]
