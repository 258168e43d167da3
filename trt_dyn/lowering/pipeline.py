"""The ordered trt_dyn passes registered into torch_tensorrt's post-lowering pipeline.

torch_tensorrt runs ``ATEN_POST_LOWERING_PASSES`` on the aten graph after ``run_decompositions``
and before partitioning / conversion. trt_dyn's passes are appended, in :data:`PASSES` order,
after all upstream passes: upstream passes such as ``normalize_negative_slice_stop`` and
``decompose_dynamic_slice_scatter`` still create SymInt arithmetic, which the dyn lowering must
see, and ``remove_assert_nodes`` has already dropped the assertions by then.

Add a pass by inserting it into :data:`PASSES` at the right position (a data-dependent rewrite
goes BEFORE ``dyn_lowering_pass``, which must see the final SymInt uses). Each pass has the
torch_tensorrt signature ``(gm, settings) -> gm``. :func:`register` is idempotent.
``trt_dyn.report()`` runs, on a copy, torch_tensorrt's pre-export passes, its decompositions and every registered
pass before ``dyn_lowering_pass`` (upstream and trt_dyn's), through :func:`as_the_dyn_lowering_sees_it`: a pass added
here or upstream is in the report with no other change.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, List

import torch

from .._hooks import (compilation_settings, decompositions, install_post_lowering_passes, installed_passes,
                      lower_before_decomposing, naming_refused_nodes, passes_before, post_lowering_passes)
from .data_dependent import data_dependent_pass
from .dyn_pass import dyn_lowering_pass
from .export_guards import export_guard_pass
from .toolbox import source_location
from .upstream_guards import UPSTREAM_GUARDS

LoweringPass = Callable[[torch.fx.GraphModule, Any], torch.fx.GraphModule]

#: trt_dyn passes in the order they run (after every upstream post-lowering pass)
PASSES: List[LoweringPass] = [data_dependent_pass, dyn_lowering_pass, export_guard_pass]


def passes_before_dyn_lowering() -> List[LoweringPass]:
    """Every pass a compile runs on the aten graph before trt_dyn's dyn lowering: torch_tensorrt's registered
    post-lowering list as it is now (upstream passes, then trt_dyn's earlier :data:`PASSES`), up to the dyn lowering."""
    return passes_before(dyn_lowering_pass)


def as_the_dyn_lowering_sees_it(graph_module_or_program: Any, compilation: Any = None) -> torch.fx.GraphModule:
    """A new graph module holding what a compile hands trt_dyn's dyn lowering pass; the argument is not changed.

    An ``ExportedProgram`` goes through what ``torch_tensorrt.dynamo.compile`` does to it, on a copy of its graph
    (:func:`_sharing_weights`): torch_tensorrt's pre-export lowering (its registered pre-export passes: detach and
    assertion removal, rule-based autocast), its decompositions, and unlifting (``module()``, weights become
    ``get_attr``); a ``GraphModule`` (torch.compile's aten graph) gets a copy of its graph sharing its weights. Then
    :func:`passes_before_dyn_lowering` run on it in order, each handed ``compilation`` (torch_tensorrt's
    ``CompilationSettings``; None: the defaults a compile without options uses). Both pass lists are read from
    torch_tensorrt's registries at each call, so a pass registered later is run here too.
    """
    compilation = compilation if compilation is not None else compilation_settings()
    if isinstance(graph_module_or_program, torch.export.ExportedProgram):
        # The pre-export lowering writes its autocast calibration into the settings it is handed (and a pass
        # deletes it again): the caller's settings stay as given.
        try:
            program = lower_before_decomposing(_sharing_weights(graph_module_or_program), copy.copy(compilation))
        except Exception as error:
            error.add_note("trt_dyn: raised by torch_tensorrt's pre-export lowering, which "
                           "torch_tensorrt.dynamo.compile runs first on this program: a compile fails the same way")
            raise
        gm = program.run_decompositions(decompositions(compilation)).module()
    elif isinstance(graph_module_or_program, torch.fx.GraphModule):
        gm = torch.fx.GraphModule(graph_module_or_program, copy.deepcopy(graph_module_or_program.graph))
    else:
        raise TypeError(f"expected a torch.fx.GraphModule or torch.export.ExportedProgram, "
                        f"got {type(graph_module_or_program).__name__}")
    for lowering_pass in passes_before_dyn_lowering():
        gm = lowering_pass(gm, compilation)
    return gm


def _sharing_weights(program: torch.export.ExportedProgram) -> torch.export.ExportedProgram:
    """A program with a copy of ``program``'s graph (each node's meta dict copied, the fake values in it shared) and
    the same weights, constants and example inputs, for passes that change a program in place; its signature and
    module call graph are copied too (small)."""
    graph = copy.deepcopy(program.graph)
    return torch.export.ExportedProgram(
        root=program.graph_module, graph=graph,
        graph_signature=copy.deepcopy(program.graph_signature), state_dict=program.state_dict,
        range_constraints=dict(program.range_constraints), module_call_graph=copy.deepcopy(program.module_call_graph),
        example_inputs=program.example_inputs, constants=program.constants, verifiers=program.verifiers)


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
    naming_refused_nodes(describe_refused_nodes)


def describe_refused_nodes(nodes: List[torch.fx.Node]) -> str:
    """What a partitioner's "model is not fully supported" leaves out: each node it keeps out of TensorRT, with
    its op and the user's source line."""
    if not nodes:
        return "the partitioner found every node convertible but made more than one TensorRT block"
    lines = []
    for node in nodes:
        where, code = source_location(node.meta.get("stack_trace"))
        lines.append(f"  {node.target} (node {node.name}): {where}" + (f": {code}" if code else ""))
    return ("no torch_tensorrt converter accepts these nodes (a converter's capability validator refuses an "
            "argument), or torch_executed_ops keeps them in PyTorch:\n" + "\n".join(lines))


def registered() -> List[str]:
    """Keys of the trt_dyn passes currently in torch_tensorrt's list, in order (for tests/debugging)."""
    return installed_passes(PASSES)
