"""The ordered trt_dyn passes registered into torch_tensorrt's post-lowering pipeline.

torch_tensorrt runs ``ATEN_POST_LOWERING_PASSES`` on the aten graph after ``run_decompositions``
and before partitioning / conversion. trt_dyn's passes are appended, in :data:`PASSES` order,
after all upstream passes: upstream passes such as ``normalize_negative_slice_stop`` and
``decompose_dynamic_slice_scatter`` still create SymInt arithmetic, which the dyn lowering must
see, and ``remove_assert_nodes`` has already dropped the assertions by then.

Add a pass by inserting it into :data:`PASSES` at the right position (a data-dependent rewrite
goes BEFORE ``dyn_lowering_pass``, which must see the final SymInt uses). Each pass has the
torch_tensorrt signature ``(gm, settings) -> gm``. :func:`register` is idempotent.
"""

from __future__ import annotations

from typing import Any, Callable, List

import torch

from .data_dependent import data_dependent_pass
from .dyn_pass import dyn_lowering_pass
from .export_guards import export_guard_pass
from .upstream_guards import guard_upstream_passes

LoweringPass = Callable[[torch.fx.GraphModule, Any], torch.fx.GraphModule]

#: trt_dyn passes in the order they run (after every upstream post-lowering pass)
PASSES: List[LoweringPass] = [data_dependent_pass, dyn_lowering_pass, export_guard_pass]


def _key(fn: Callable) -> str:
    return f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', repr(fn))}"


def _upstream_pass_list() -> list:
    from torch_tensorrt.dynamo.lowering.passes._aten_lowering_pass import ATEN_POST_LOWERING_PASSES

    return ATEN_POST_LOWERING_PASSES.passes


def register() -> None:
    """Put :data:`PASSES` at the end of torch_tensorrt's post-lowering list, once.

    Passes already present (matched by module + qualified name, so a module reload does not
    duplicate them) are removed first, then all of PASSES are appended in order.
    """
    passes = _upstream_pass_list()
    ours = {_key(fn) for fn in PASSES}
    passes[:] = [fn for fn in passes if _key(fn) not in ours]
    guard_upstream_passes(passes)
    passes.extend(PASSES)


def registered() -> List[str]:
    """Keys of the trt_dyn passes currently in torch_tensorrt's list, in order (for tests/debugging)."""
    ours = {_key(fn) for fn in PASSES}
    return [_key(fn) for fn in _upstream_pass_list() if _key(fn) in ours]
