"""trt_dyn.converters"""
import importlib.util

# torchvision is not a runtime dependency: its roi_align converter registers only where it is installed.
if importlib.util.find_spec("torchvision") is not None:
    from . import roi_align  # noqa: F401,E402  (torchvision::roi_align)
    from . import nms  # noqa: F401,E402  (torchvision::nms, trt_dyn::batched_nms)
from . import selection  # noqa: F401,E402  (nonzero / mask index without NonZero, topk_dyn)
from . import shape, arith, views, creation, slicing, resize  # noqa: F401,E402  (trt_dyn::*_dyn ops)
from . import guards  # noqa: F401,E402  (trt_dyn::shape_guard_dyn)
from . import fixed_channels  # noqa: F401,E402  (convolution / batch norm / group norm: a symbolic channel count their parameters fix)
from . import pooling  # noqa: F401,E402  (aten.max_pool2d / 3d with ceil_mode=True, which torch_tensorrt refuses)
