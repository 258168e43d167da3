"""Helpers for the dyn lowering tests: export with dynamic dims, check for SymInt leaks, compare."""

from typing import Callable, Dict, Optional, Sequence

import torch
from torch.fx.experimental.symbolic_shapes import free_symbols

import trt_dyn  # noqa: F401


def _symbolic(value) -> bool:
    return isinstance(value, (torch.SymInt, torch.SymFloat, torch.SymBool)) and bool(free_symbols(value))


def symint_leaks(gm: torch.fx.GraphModule):
    """Nodes (target, offending arg) where a symbolic scalar reaches anything, or survives at all.

    Written independently of the pass: after lowering, no node may produce or consume a
    SymInt/SymFloat/SymBool except trt_dyn ops' static metadata (none have SymInt outputs).
    """
    leaks = []
    for node in gm.graph.nodes:
        if node.op == "call_function" and _symbolic(node.meta.get("val")):
            leaks.append((str(node.target), node.name, "produces a symbolic scalar"))
        for arg in node.all_input_nodes:
            if _symbolic(arg.meta.get("val")):
                leaks.append((str(node.target), node.name, f"receives {arg.name}"))
    return leaks


def export_decomposed(model: torch.nn.Module, args: Sequence[torch.Tensor], dynamic_shapes) -> torch.export.ExportedProgram:
    """torch.export, then the decompositions torch_tensorrt applies before its lowering passes."""
    from torch_tensorrt.dynamo.lowering import get_decompositions

    ep = torch.export.export(model, tuple(args), dynamic_shapes=dynamic_shapes)
    return ep.run_decompositions(get_decompositions(False))


def assert_same(actual, expected, exact: bool = True, rtol: Optional[float] = None, atol: Optional[float] = None) -> None:
    actual = actual if isinstance(actual, (tuple, list)) else (actual,)
    expected = expected if isinstance(expected, (tuple, list)) else (expected,)
    assert len(actual) == len(expected)
    for index, (a, e) in enumerate(zip(actual, expected)):
        assert a.shape == e.shape, f"output {index}: shape {tuple(a.shape)} != {tuple(e.shape)}"
        assert a.dtype == e.dtype, f"output {index}: dtype {a.dtype} != {e.dtype}"
        if exact:
            assert torch.equal(a, e), f"output {index}: values differ (max {(a.float() - e.float()).abs().max()})"
        else:
            torch.testing.assert_close(a, e, rtol=rtol, atol=atol)


def lower_and_check(model: torch.nn.Module, example: Sequence[torch.Tensor], dynamic_shapes,
                    make_inputs: Callable[[Dict[str, int]], Sequence[torch.Tensor]], sizes, exact=True):
    """Export + decompose + trt_dyn.lower; assert no SymInt leak and eager equality at ``sizes``."""
    ep = export_decomposed(model, example, dynamic_shapes)
    original = ep.module()  # the sizes must be valid for the export itself, before lowering
    trt_dyn.lower(ep)
    leaks = symint_leaks(ep.graph_module)
    assert not leaks, f"symbolic values reach non-dyn ops: {leaks}\n{ep.graph}"
    assert any(str(n.target).startswith("trt_dyn.") for n in ep.graph.nodes), "nothing was lowered"
    lowered = ep.module()
    for size in sizes:
        inputs = make_inputs(size)
        with torch.no_grad():
            expected = model(*inputs)
            assert_same(original(*inputs), expected, exact=exact)
            assert_same(lowered(*inputs), expected, exact=exact)
    return ep


