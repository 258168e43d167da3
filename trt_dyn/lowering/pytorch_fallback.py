"""What "warn" mode leaves to PyTorch really runs in PyTorch.

torch_tensorrt's partitioner converts every node whose target has a converter, and several of its
converters accept SymInt arguments and get them wrong (``reflection_pad1d`` by ``(-w) % 4`` builds a
``w - w % 4`` wide output) or crash (``full(fill=n)``, a symbolic slice step, ``narrow(.item())``).
``torch_executed_ops`` works per target, so it would also send every correct use of the same op to
PyTorch. Instead each node that still produces or receives a symbolic value after the rewrite gets
a stand-in target: a plain function calling the original op. No converter exists for it, so the
partitioner keeps the node, and with it the SymInt chain feeding it, in a PyTorch segment; eager
results are the original op's.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Collection, Dict, List

from torch.fx import GraphModule, Node

_STAND_INS: Dict[Any, Callable[..., Any]] = {}


def _op_label(target: Any) -> str:
    return str(target) if not callable(target) or hasattr(target, "_schema") else \
        f"{getattr(target, '__module__', '') or ''}.{getattr(target, '__name__', repr(target))}"


def pytorch_stand_in(target: Any) -> Callable[..., Any]:
    """The plain function running ``target`` (one per target; importable from this module by name)."""
    if target in _STAND_INS:
        return _STAND_INS[target]
    label = _op_label(target)

    def run_in_pytorch(*args: Any, **kwargs: Any) -> Any:
        return target(*args, **kwargs)

    name = "pytorch_" + re.sub(r"\W", "_", label.replace("_operator.", "operator."))
    run_in_pytorch.__name__ = run_in_pytorch.__qualname__ = name
    run_in_pytorch.__module__ = __name__
    run_in_pytorch.__doc__ = f"{label}, left to PyTorch by trt_dyn's lowering ('warn' mode)."
    run_in_pytorch.trt_dyn_original = target  # type: ignore[attr-defined]
    globals()[name] = run_in_pytorch  # FX code generation and pickling find it by qualified name
    _STAND_INS[target] = run_in_pytorch
    return run_in_pytorch


def original_target(target: Any) -> Any:
    """The op a stand-in runs (``target`` itself for anything else)."""
    return getattr(target, "trt_dyn_original", target)


def leave_to_pytorch(gm: GraphModule, is_symbolic: Callable[[Node], bool], names: Collection[str] = ()) -> List[Node]:
    """Give the nodes called ``names`` and every call_function node producing or receiving a symbolic
    value a stand-in target.

    After the dyn rewrite only the nodes reported missing (and their SymInt chains) still touch
    symbolic values, so this is exactly what "warn" mode promised to leave to PyTorch.
    """
    moved: List[Node] = []
    # After a complete rewrite nothing is symbolic any more: one question per node settles it, where the loop below
    # asks it again for every input of every call (~4% of the dyn lowering). Only a node that moves can change an
    # answer (a val-less SymInt node stops being one when retargeted), so with none symbolic and none named, none moves.
    if not names and not any(is_symbolic(node) for node in gm.graph.nodes):
        return moved
    for node in gm.graph.nodes:
        if node.op != "call_function" or node.target in _STAND_INS.values():
            continue
        if node.name in names or is_symbolic(node) or any(is_symbolic(arg) for arg in node.all_input_nodes):
            node.target = pytorch_stand_in(node.target)
            moved.append(node)
    return moved
