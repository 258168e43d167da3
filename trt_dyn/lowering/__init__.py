"""trt_dyn.lowering"""
from . import data_dependent  # noqa: F401,E402  (dense masked write-back, mode switch)
