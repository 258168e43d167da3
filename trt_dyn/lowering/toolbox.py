"""What every trt_dyn lowering pass (and ``report()``) needs to read an aten graph, in one place.

* op sets: :data:`RESHAPE_OPS` (every aten spelling of a reshape that survives torch_tensorrt's decompositions);
* arguments: :func:`argument` (positional-or-keyword, for code that knows the position) and
  :func:`bind_arguments` (every schema argument by name, defaults filled in);
* names: :func:`op_name` (``aten.view.default``, ``operator.add``);
* source locations: :func:`source_location` (the user's ``file:line`` and code from a node's ``stack_trace``);
* fake propagation: :func:`fake_propagate` (``meta['val']`` of new nodes from their own fake kernels);
* input dims: :func:`input_dims_by_symbol` (which graph-input dimensions carry each size symbol).
"""

from __future__ import annotations

import contextlib
import os
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

aten = torch.ops.aten

#: ``view`` / ``reshape`` and what torch_tensorrt's decompositions turn them into (``_reshape_copy``), one set for
#: every pass: the data-dependent rewrite once missed ``_reshape_copy`` and fell back to the 65-layer compaction
RESHAPE_OPS = frozenset({aten.view.default, aten.reshape.default, aten._reshape_copy.default,
                         aten._unsafe_view.default})

#: writes into selected rows (``out[mask] = values``): what the data-dependent rewrite starts from
WRITE_BACK_OPS = frozenset({aten.index_put.default, aten.index_put_.default})


def argument(args: Sequence[Any], kwargs: Dict[str, Any], index: int, key: str, default: Any = None) -> Any:
    """Positional-or-keyword argument ``key`` (position ``index``) of an FX call."""
    if len(args) > index:
        return args[index]
    return kwargs.get(key, default)


def op_name(target: Any) -> str:
    """``aten.view.default`` for an OpOverload, ``operator.add`` / ``module.function`` for a Python callable."""
    if isinstance(target, torch._ops.OpOverload):
        return f"{target.namespace}.{target._schema.name.split('::')[-1]}.{target._overloadname}"
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__name__", repr(target))
    return f"{module.replace('_operator', 'operator')}.{name}" if module else name


def bind_arguments(target: Any, args: Sequence[Any], kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """The call's arguments by schema name, defaults filled in (``target`` an OpOverload)."""
    bound: Dict[str, Any] = {}
    for index, arg in enumerate(target._schema.arguments):
        if index < len(args) and not arg.kwarg_only:
            bound[arg.name] = args[index]
        elif arg.name in kwargs:
            bound[arg.name] = kwargs[arg.name]
        elif arg.has_default_value():
            bound[arg.name] = arg.default_value
        else:
            raise TypeError(f"{op_name(target)}: missing argument '{arg.name}'")
    return bound


_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>\S+)\n(?P<code>[^\n]*)')
#: with the separator: ".../site-packages/torch" is also a prefix of torchvision's and torch_tensorrt's files
_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep


def source_location(stack_trace: Optional[str]) -> Tuple[str, str]:
    """(``file:line``, code) of the innermost user frame of an FX ``stack_trace`` (frames inside
    torch itself are skipped, so ``F.pad`` reports the model's line, not functional.py; a library's frames, e.g.
    torchvision's, are kept: torch.export records the ``forward`` frames, and the innermost is the library module
    whose code does the failing op)."""
    if not stack_trace:
        return "<unknown>", ""
    frames = list(_FRAME.finditer(stack_trace))
    user = [m for m in frames if not m.group("file").startswith(_TORCH_DIR)] or frames
    if not user:
        return "<unknown>", ""
    frame = user[-1]
    return f"{frame.group('file')}:{frame.group('line')}", frame.group("code").strip()


#: :func:`fake_propagate`'s default: find the graph's fake mode (a walk of its placeholders and their values)
DETECT_FAKE_MODE = object()


def fake_propagate(gm: torch.fx.GraphModule, nodes: Sequence[torch.fx.Node], fake_mode: Any = DETECT_FAKE_MODE) -> None:
    """meta['val'] for new nodes, computed by their own fake kernels (under ``fake_mode``: a pass creating nodes
    one by one finds it once, ``_detect_fake_mode_from_gm`` once per call was a third of the data-dependent rewrite)."""
    from torch._export.utils import _detect_fake_mode_from_gm

    if fake_mode is DETECT_FAKE_MODE:
        fake_mode = _detect_fake_mode_from_gm(gm)
    context = fake_mode if fake_mode is not None else contextlib.nullcontext()

    def value_of(arg: Any) -> Any:
        if isinstance(arg, torch.fx.Node):
            return arg.meta["val"]
        if isinstance(arg, (list, tuple)):
            return type(arg)(value_of(item) for item in arg)
        return arg

    with context:
        for node in nodes:
            node.meta["val"] = node.target(*value_of(node.args), **value_of(node.kwargs))


def input_dims_by_symbol(graph: torch.fx.Graph) -> Dict[Any, List[Tuple[torch.fx.Node, int]]]:
    """symbol -> every (tensor placeholder, dim) whose size is exactly that symbol, in input order (torch.export
    gives dims it found equal one symbol, so a list longer than one means the engine must check them equal)."""
    found: Dict[Any, List[Tuple[torch.fx.Node, int]]] = {}
    for node in graph.nodes:
        if node.op != "placeholder":
            break
        value = node.meta.get("val")
        if isinstance(value, torch.Tensor):
            for dim, size in enumerate(value.shape):
                if isinstance(size, torch.SymInt) and size.node.expr.is_Symbol:
                    found.setdefault(size.node.expr, []).append((node, dim))
    return found


__all__ = ["RESHAPE_OPS", "WRITE_BACK_OPS", "argument", "bind_arguments", "fake_propagate", "input_dims_by_symbol",
           "op_name", "source_location"]
