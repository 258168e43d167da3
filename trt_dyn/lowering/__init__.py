"""trt_dyn.lowering: the static -> dyn IR lowering, its translation table, switches and report.

``import trt_dyn`` registers :data:`pipeline.PASSES` into torch_tensorrt's post-lowering pipeline
(idempotently). Public: :func:`lower`, :func:`report`, :class:`MissingDynVariantError`,
:func:`set_enabled`, :func:`set_on_missing`.
"""

from . import data_dependent  # noqa: F401,E402  (dense masked write-back, mode switch)
from .settings import get_on_missing, is_enabled, set_enabled, set_on_missing  # noqa: F401
from .report import DynReport, MissingDynVariantError, MissingEntry  # noqa: F401
from .translation_map import RULES, SYM_RULES, DynRule  # noqa: F401
from .dyn_pass import analyse, dyn_lowering_pass, has_dynamic_inputs, lower, report  # noqa: F401
from . import pipeline  # noqa: F401
from . import torch_compile  # noqa: F401,E402

pipeline.register()
torch_compile.install()

__all__ = [
    "lower", "report", "DynReport", "MissingEntry", "MissingDynVariantError", "DynRule", "RULES",
    "SYM_RULES", "set_enabled", "is_enabled", "set_on_missing", "get_on_missing", "dyn_lowering_pass",
    "has_dynamic_inputs", "analyse",
]
