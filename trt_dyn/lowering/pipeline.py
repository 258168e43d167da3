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

import copy
from typing import Any, Callable, List

import torch

from .._hooks import install_post_lowering_passes, installed_passes, post_lowering_passes
from .data_dependent import data_dependent_pass
from .dyn_pass import dyn_lowering_pass
from .export_guards import export_guard_pass
from .toolbox import WRITE_BACK_OPS
from .upstream_guards import UPSTREAM_GUARDS

LoweringPass = Callable[[torch.fx.GraphModule, Any], torch.fx.GraphModule]

#: trt_dyn passes in the order they run (after every upstream post-lowering pass)
PASSES: List[LoweringPass] = [data_dependent_pass, dyn_lowering_pass, export_guard_pass]


def passes_before_dyn_lowering() -> List[LoweringPass]:
    """The trt_dyn passes a compile runs before the dyn lowering, in :data:`PASSES` order."""
    return PASSES[: PASSES.index(dyn_lowering_pass)]


def as_the_dyn_lowering_sees_it(gm: torch.fx.GraphModule, owned: bool = False) -> torch.fx.GraphModule:
    """``gm`` after :func:`passes_before_dyn_lowering`, so that ``report()`` analyses what a compile's dyn lowering
    sees (by construction: the same list). ``owned``: ``gm`` is a copy the caller made and may be changed; otherwise
    ``gm`` is left as it is and a copy is rewritten (made only when the graph has data-dependent ops to rewrite)."""
    if not owned:
        if not any(node.op == "call_function" and node.target in WRITE_BACK_OPS for node in gm.graph.nodes):
            return gm
        gm = copy.deepcopy(gm)
    for lowering_pass in passes_before_dyn_lowering():
        gm = lowering_pass(gm, None)
    return gm


def _key(fn: Callable) -> str:
    return f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', repr(fn))}"


def _upstream_pass_list() -> list:
    return post_lowering_passes()


def register() -> None:
    """Put :data:`PASSES` at the end of torch_tensorrt's post-lowering list, once.

    Passes already present (matched by module + qualified name, so a module reload does not
    duplicate them) are removed first, then all of PASSES are added in order through
    torch_tensorrt's own registration decorator (:func:`trt_dyn._hooks.install_post_lowering_passes`).
    """
    install_post_lowering_passes(PASSES, UPSTREAM_GUARDS)


def registered() -> List[str]:
    """Keys of the trt_dyn passes currently in torch_tensorrt's list, in order (for tests/debugging)."""
    return installed_passes(PASSES)
