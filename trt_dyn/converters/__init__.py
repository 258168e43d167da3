"""trt_dyn.converters"""
from . import roi_align  # noqa: F401,E402  (torchvision::roi_align)
from . import selection  # noqa: F401,E402  (nonzero / mask index without NonZero, topk_dyn)
