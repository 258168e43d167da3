"""What every trt_dyn lowering pass (and ``report()``) needs to read an aten graph, in one place.

* op sets: :data:`RESHAPE_OPS` (every aten spelling of a reshape that survives torch_tensorrt's decompositions);
* arguments: :func:`argument` (positional-or-keyword, for code that knows the position),
  :func:`bind_arguments` (every schema argument by name, defaults filled in) and :func:`schema_arguments` (an op's
  schema arguments read once);
* names: :func:`op_name` (``aten.view.default``, ``operator.add``);
* source locations: :func:`source_location` (the user's ``file:line`` and code from a node's ``stack_trace``);
* fake values: :func:`graph_fake_mode` (the fake mode a graph's values live in) and :func:`fake_propagate`
  (``meta['val']`` of new nodes from their own fake kernels);
* input dims: :func:`input_dims_by_symbol` (which graph-input dimensions carry each size symbol);
* code generation: :func:`generate_code_on_first_use` (a pass's ``recompile()``, paid only if the code is used).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

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


class SchemaArgument(NamedTuple):
    """One argument of an operator schema, as plain Python values."""

    name: str
    kwarg_only: bool
    has_default: bool
    #: the schema's default (None when it has none; a list is shared: copy it before handing it out)
    default: Any
    #: Tensor or Tensor? (a shape tensor goes there)
    is_tensor: bool
    optional: bool


@functools.lru_cache(maxsize=None)
def schema_arguments(target: Any) -> Tuple[SchemaArgument, ...]:
    """``target``'s (an OpOverload) schema arguments, read once: every attribute of torch's schema objects is a call
    into C++, and the lowering asked them again for each node it bound or rewrote (a fifth of the pass)."""
    found = []
    for arg in target._schema.arguments:
        optional = isinstance(arg.type, torch.OptionalType)
        inner = arg.type.getElementType() if optional else arg.type
        has_default = arg.has_default_value()
        found.append(SchemaArgument(arg.name, arg.kwarg_only, has_default, arg.default_value if has_default else None,
                                    isinstance(inner, torch.TensorType), optional))
    return tuple(found)


def schema_default(arg: SchemaArgument) -> Any:
    """``arg``'s default, a fresh list for a list default (as the schema object hands out each time)."""
    return list(arg.default) if isinstance(arg.default, list) else arg.default


def bind_arguments(target: Any, args: Sequence[Any], kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """The call's arguments by schema name, defaults filled in (``target`` an OpOverload)."""
    bound: Dict[str, Any] = {}
    for index, arg in enumerate(schema_arguments(target)):
        if index < len(args) and not arg.kwarg_only:
            bound[arg.name] = args[index]
        elif arg.name in kwargs:
            bound[arg.name] = kwargs[arg.name]
        elif arg.has_default:
            bound[arg.name] = schema_default(arg)
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


def graph_fake_mode(gm: torch.fx.GraphModule) -> Any:
    """The FakeTensorMode the values in ``gm``'s ``meta['val']`` belong to (None for a graph without fake values):
    new nodes' values must be made in it, or their symbolic sizes would live in another ShapeEnv.

    The one place trt_dyn asks torch for it: ``torch._export.utils._detect_fake_mode_from_gm`` is a private torch
    helper (tests/lowering/test_toolbox.py checks what is assumed of it)."""
    from torch._export.utils import _detect_fake_mode_from_gm

    return _detect_fake_mode_from_gm(gm)


#: :func:`fake_propagate`'s default: find the graph's fake mode with :func:`graph_fake_mode`
DETECT_FAKE_MODE = object()


def fake_propagate(gm: torch.fx.GraphModule, nodes: Sequence[torch.fx.Node], fake_mode: Any = DETECT_FAKE_MODE) -> None:
    """meta['val'] for new nodes, computed by their own fake kernels (under ``fake_mode``: a pass creating nodes
    one by one finds it once, a look-up once per call was a third of the data-dependent rewrite)."""
    if fake_mode is DETECT_FAKE_MODE:
        fake_mode = graph_fake_mode(gm)
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


def input_sizes(graph: torch.fx.Graph) -> Iterator[Tuple[torch.fx.Node, Optional[int], Any]]:
    """(placeholder, dim, size) for every size of the graph's inputs, in input order: each dim of a tensor
    placeholder, and ``(placeholder, None, value)`` for a placeholder that is itself a number (torch.compile's
    SymInt inputs). Every placeholder counts, wherever it stands: an unlifted graph may put get_attr nodes (its
    weights) before the inputs."""
    for node in graph.find_nodes(op="placeholder"):
        value = node.meta.get("val")
        if isinstance(value, torch.Tensor):
            for dim, size in enumerate(value.shape):
                yield node, dim, size
        else:
            yield node, None, value


def input_dims_by_symbol(graph: torch.fx.Graph) -> Dict[Any, List[Tuple[torch.fx.Node, int]]]:
    """symbol -> every (tensor placeholder, dim) whose size is exactly that symbol, in input order (torch.export
    gives dims it found equal one symbol, so a list longer than one means the engine must check them equal)."""
    found: Dict[Any, List[Tuple[torch.fx.Node, int]]] = {}
    for node, dim, size in input_sizes(graph):
        if dim is not None and isinstance(size, torch.SymInt) and size.node.expr.is_Symbol:
            found.setdefault(size.node.expr, []).append((node, dim))
    return found


class _CodeOnFirstUse(torch.fx.GraphModule):
    """Put in front of one graph module's own class by :func:`generate_code_on_first_use`; every way in to the
    generated code first puts the module's own class back and runs the ordinary ``recompile()``."""

    _own_class: type

    def _generate_code(self) -> Any:
        self.__class__ = type(self)._own_class
        return self.recompile()

    def recompile(self) -> Any:  # a caller may use the PythonCode it returns (torch's graph pickler does)
        return self._generate_code()

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        self._generate_code()
        return self(*args, **kwargs)

    @property
    def code(self) -> str:
        self._generate_code()
        return self.code

    def __str__(self) -> str:
        self._generate_code()
        return str(self)

    def __copy__(self) -> Any:
        self._generate_code()
        return self.__copy__()

    def __deepcopy__(self, memo: Dict[int, Any]) -> Any:
        self._generate_code()
        return self.__deepcopy__(memo)

    def __reduce__(self) -> Any:
        self._generate_code()
        return self.__reduce__()

    def __reduce_package__(self, exporter: Any) -> Any:
        self._generate_code()
        return self.__reduce_package__(exporter)

    def to_folder(self, *args: Any, **kwargs: Any) -> Any:
        self._generate_code()
        return self.to_folder(*args, **kwargs)


def generate_code_on_first_use(gm: torch.fx.GraphModule) -> None:
    """``gm.recompile()``, deferred to the first call, ``.code``, ``str``, copy or pickling of ``gm``.

    torch.fx writes and compiles a graph's Python (~100 µs per node, more than the whole dyn lowering) at every
    ``recompile()``; in a compile nothing runs the lowered graph before torch_tensorrt's partitioner generates its
    code again, so a lowering pass that regenerated it paid for code nobody used. The first use regenerates it from
    the graph as it is then, so later edits are seen too. Only ``gm``'s class is replaced, by a new subclass of it
    that puts the old class back before generating (tests/lowering/test_toolbox.py checks what this assumes of
    torch.fx: ``recompile()`` installs ``forward`` on the module's class and ``.code`` reads what it wrote).
    """
    if isinstance(gm, _CodeOnFirstUse):
        return
    own = type(gm)
    deferred = type(own.__name__, (_CodeOnFirstUse, own), {"_own_class": own, "__module__": own.__module__})
    gm.__class__ = deferred


def code_generation_pending(gm: torch.fx.GraphModule) -> bool:
    """True while ``gm``'s code waits for its first use (:func:`generate_code_on_first_use`)."""
    return isinstance(gm, _CodeOnFirstUse)


__all__ = ["RESHAPE_OPS", "WRITE_BACK_OPS", "SchemaArgument", "argument", "bind_arguments", "code_generation_pending",
           "fake_propagate", "generate_code_on_first_use", "graph_fake_mode", "input_dims_by_symbol", "op_name",
           "schema_arguments", "schema_default", "source_location"]
