"""Converter tests in one call: export with dynamic ranges, compile like torch_tensorrt, compare with eager.

A test gives a module, example inputs and the dynamic ranges of its inputs::

    run_converter_test(MyModule(), (torch.randn(4, 3),), dynamic={"x": {0: (1, 8)}})

and the harness

1. exports it (named ``Dim`` ranges; if torch.export refuses them, ``Dim.AUTO(min=, max=)``) and
   checks that every requested dimension stayed dynamic over exactly the requested range
   (:class:`SpecializationError` otherwise);
2. compiles it with :func:`trt_dyn.testing.compile_cpu` (``require_full_compilation=True``,
   ``min_block_size=1``) and checks the number of TensorRT engines and that no node was left to
   PyTorch (both configurable);
3. runs it at the minimum, optimum and maximum of every range and at an odd size inside it, each
   time on fresh random inputs, and compares every output with PyTorch eager: same shape, same
   dtype, values within the dtype's tolerance (:data:`DEFAULT_TOLERANCES`; integers and bools
   exactly). A mismatch names the output, the sizes and the max abs/rel error.

``dynamic`` maps an input name (a parameter of ``forward``) to ``{axis: (min, max)}``; an axis may
instead map to a ``torch.export.Dim`` (use one Dim object for axes that must stay equal), and a
full ``dynamic_shapes`` spec for ``torch.export`` is accepted unchanged via ``dynamic_shapes=``.

Integer and bool inputs come from :func:`default_input` unless the test passes ``input_generators``
(``{name: fn(shape, dtype, generator)}``; a four-parameter ``fn`` also receives every input's
shape at that point, e.g. to draw valid indices into another input).

:class:`ConverterTestCase` offers the same as methods for ``unittest.TestCase`` / ``parameterized``
tests; :data:`ENGINE_MODES` parametrizes a pytest test over the executor and (``gpu`` marker) the
real engine.
"""

from __future__ import annotations

import collections
import contextlib
import inspect
import itertools
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import sympy
import torch
from torch.export import Dim
from torch.utils._sympy.value_ranges import bound_sympy

from .._trt import trt
from ..inputs import user_input_nodes
from .compile_cpu import CompiledModule, compile_cpu

__all__ = [
    "ConverterTestCase",
    "ConverterTestResult",
    "ConverterMismatchError",
    "SpecializationError",
    "DEFAULT_TOLERANCES",
    "ENGINE_MODES",
    "run_converter_test",
    "export_dynamic",
    "size_points",
    "default_input",
    "compare_outputs",
    "network_layer_types",
    "upstream_converters_only",
]

Shape = Tuple[int, ...]
Range = Tuple[int, int]
InputGenerator = Callable[..., torch.Tensor]

#: dtype -> (rtol, atol); a value passes when |actual - expected| <= atol + rtol * |expected|.
DEFAULT_TOLERANCES: Dict[torch.dtype, Tuple[float, float]] = {
    torch.float64: (1e-6, 1e-6),
    torch.float32: (1e-4, 1e-4),
    torch.float16: (1e-2, 1e-2),
    torch.bfloat16: (2e-2, 2e-2),
}


class SpecializationError(AssertionError):
    """torch.export pinned or narrowed a dimension the test declared dynamic."""


class ConverterMismatchError(AssertionError):
    """The compiled program disagrees with PyTorch eager (or with the expected partitioning)."""


def _engine_modes() -> List[Any]:
    try:
        import pytest
    except ImportError:  # the harness itself does not need pytest
        return [False]
    return [
        pytest.param(False, id="executor"),
        pytest.param(True, id="engine", marks=pytest.mark.gpu),
    ]


#: ``@pytest.mark.parametrize("run_engines", ENGINE_MODES)``: executor always, real engine with ``gpu``.
ENGINE_MODES = _engine_modes()


# ----------------------------------------------------------------------------------------------
# upstream-only conversion


@contextlib.contextmanager
def upstream_converters_only() -> Any:
    """Inside the block torch_tensorrt converts with its own converters only.

    trt_dyn's converters are taken out of torch_tensorrt's registry (those registered for ``aten``
    or ``torchvision`` ops too, which would otherwise win by priority) and the trt_dyn lowering is
    switched off; both are restored on exit. Used to test the executor against upstream behaviour
    and to reproduce upstream partitioning (e.g. roi_align, which upstream cannot convert).
    """
    from .. import lowering
    from .._hooks import without_converters

    was_enabled = lowering.is_enabled()
    lowering.set_enabled(False)
    try:
        with without_converters(lambda implementation: implementation.__module__.startswith("trt_dyn")):
            yield
    finally:
        lowering.set_enabled(was_enabled)


# ----------------------------------------------------------------------------------------------
# network inspection


def network_layer_types(network: Any) -> "collections.Counter[str]":
    """How many layers of each ``trt.LayerType`` (by name, e.g. ``"CONVOLUTION"``) the network has."""
    counts: "collections.Counter[str]" = collections.Counter()
    for index in range(network.num_layers):
        counts[network.get_layer(index).type.name] += 1
    return counts


# ----------------------------------------------------------------------------------------------
# export


def _forward_parameter_names(module: torch.nn.Module, count: int) -> List[str]:
    parameters = [
        p
        for p in inspect.signature(module.forward).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    names = [p.name for p in parameters[:count]]
    names += [f"arg{index}" for index in range(len(names), count)]
    return names


def _normalise_dynamic(
    names: Sequence[str], dynamic: Optional[Mapping[str, Mapping[int, Any]]]
) -> Dict[str, Dict[int, Any]]:
    dynamic = dict(dynamic or {})
    unknown = set(dynamic) - set(names)
    if unknown:
        raise ValueError(f"dynamic ranges for unknown inputs {sorted(unknown)}; inputs are {list(names)}")
    return {name: dict(axes) for name, axes in dynamic.items()}


def _requested_ranges(
    names: Sequence[str], dynamic: Dict[str, Dict[int, Any]]
) -> Dict[Tuple[str, int], Range]:
    ranges = {}
    for name, axes in dynamic.items():
        for axis, spec in axes.items():
            if isinstance(spec, tuple) and len(spec) == 2:
                ranges[(name, axis)] = (int(spec[0]), int(spec[1]))
            elif hasattr(spec, "min") and hasattr(spec, "max") and not isinstance(spec, tuple):
                ranges[(name, axis)] = (int(spec.min), int(spec.max))
            else:
                raise ValueError(f"input {name!r} axis {axis}: expected (min, max) or a torch.export.Dim, got {spec!r}")
    return ranges


def export_dynamic(
    module: torch.nn.Module,
    inputs: Sequence[torch.Tensor],
    dynamic: Optional[Mapping[str, Mapping[int, Any]]] = None,
    *,
    dynamic_shapes: Any = None,
) -> torch.export.ExportedProgram:
    """Export ``module`` with the harness's dynamic ranges and check none was specialized.

    See the module docstring for ``dynamic``. Raises :class:`SpecializationError` when the exported
    program does not keep a requested axis dynamic over exactly the requested range.
    """
    inputs = tuple(inputs)
    names = _forward_parameter_names(module, len(inputs))
    if dynamic_shapes is not None:
        if dynamic:
            raise ValueError("give either dynamic= or dynamic_shapes=, not both")
        return torch.export.export(module, inputs, dynamic_shapes=dynamic_shapes)
    dynamic = _normalise_dynamic(names, dynamic)
    requested = _requested_ranges(names, dynamic)
    if not requested:
        return torch.export.export(module, inputs)

    spec: Dict[str, Dict[int, Any]] = {}
    for name in names:
        axes = {}
        for axis, value in dynamic.get(name, {}).items():
            if isinstance(value, tuple):
                lo, hi = value
                axes[axis] = Dim(f"{name}_{axis}", min=lo, max=hi)
            else:
                axes[axis] = value
        spec[name] = axes or None
    try:
        program = _export_refining(module, inputs, spec)
        _check_not_specialized(program, names, requested)
        return program
    # (AssertionError: SpecializationError, and torch.export's own failure to apply the constraints it
    # derived, e.g. ``Expected op to be '==', got <= for 23/3 <= h`` on slices with negative bounds)
    except (torch._dynamo.exc.UserError, AssertionError) as named_error:
        # Named ranges can be refused (a relation export cannot express as a fix), or narrowed by the
        # fixes export suggests (``h = 2*_h`` for a model that only needs h // 2); Dim.AUTO lets export
        # derive the relations, its min/max keep the ranges, and they are checked again below.
        # (Bounds on the module itself, not a wrapper: the program's inputs keep the forward's names,
        # which guard messages and compile errors quote.)
        auto = {
            name: {
                axis: Dim.AUTO(min=requested[(name, axis)][0], max=requested[(name, axis)][1])
                for axis in dynamic.get(name, {})
            }
            or None
            for name in names
        }
        try:
            program = torch.export.export(module, inputs, dynamic_shapes=auto)
        except Exception as auto_error:
            raise SpecializationError(
                f"torch.export refused the dynamic ranges {requested}:\n"
                f"  with named Dims: {named_error}\n  with Dim.AUTO(min, max): {auto_error}"
            ) from auto_error
    _check_not_specialized(program, names, requested)
    return program


def _export_refining(
    module: torch.nn.Module, inputs: Tuple[torch.Tensor, ...], spec: Dict[str, Any], attempts: int = 3
) -> torch.export.ExportedProgram:
    """Export with named Dims; when export suggests fixes (``y_0 = x_0``: the model makes two axes
    equal), apply them and retry. The ranges are then re-checked by the caller."""
    from torch.export.dynamic_shapes import refine_dynamic_shapes_from_suggested_fixes

    for attempt in range(attempts + 1):
        try:
            return torch.export.export(module, inputs, dynamic_shapes=spec)
        except torch._dynamo.exc.UserError as error:
            message = str(error)
            if attempt == attempts or "Suggested fixes:" not in message:
                raise
            try:
                # the message ends with generic advice after a blank line, which the parser rejects
                spec = refine_dynamic_shapes_from_suggested_fixes(message.split("\n\n")[0], spec)
            except Exception:
                # export suggests fixes its own parser cannot apply (a derived dim whose minimum is
                # negative, ``2*_w - 1``; an inequality, ``23/3 <= h``): the caller's Dim.AUTO route
                # handles those models, so report the export error, not the parser's
                raise error from None
    raise AssertionError("unreachable")


def _placeholder_dims(program: torch.export.ExportedProgram) -> List[Sequence[Any]]:
    return [tuple(node.meta["val"].shape) for node in user_input_nodes(program)]


def _check_not_specialized(
    program: torch.export.ExportedProgram, names: Sequence[str], requested: Dict[Tuple[str, int], Range]
) -> None:
    dims = _placeholder_dims(program)
    ranges = dict(program.range_constraints)
    problems = []
    for (name, axis), (lo, hi) in requested.items():
        dim = dims[names.index(name)][axis]
        if isinstance(dim, int):
            problems.append(f"input {name!r} axis {axis}: requested [{lo}, {hi}], export pinned it to {dim}")
            continue
        bounds = bound_sympy(dim.node.expr, ranges)
        if (bounds.lower, bounds.upper) != (lo, hi):
            problems.append(
                f"input {name!r} axis {axis}: requested [{lo}, {hi}], export kept "
                f"[{bounds.lower}, {bounds.upper}] ({dim.node.expr})"
            )
    if problems:
        raise SpecializationError(
            "torch.export specialized dynamic dimensions (the model constrains them; "
            "change the ranges or the model):\n  " + "\n  ".join(problems)
        )


# ----------------------------------------------------------------------------------------------
# sizes and inputs


def _odd_inside(lo: int, hi: int, avoid: Sequence[int]) -> Optional[int]:
    for value in range(hi - 1, lo, -1):
        if value % 2 == 1 and value not in avoid:
            return value
    return None


def size_points(program: torch.export.ExportedProgram) -> List[Tuple[str, Dict[sympy.Symbol, int]]]:
    """Values of the program's shape symbols to test: all at min, opt (the traced example), max, and odd.

    "odd" puts every symbol at an odd value strictly inside its range when one exists (different
    from min/opt/max), else at its opt. Points whose values coincide are dropped.
    """
    symbols: Dict[sympy.Symbol, Tuple[int, int]] = {}
    ranges = dict(program.range_constraints)
    for node in user_input_nodes(program):
        for dim in node.meta["val"].shape:
            if isinstance(dim, int):
                continue
            for symbol in sorted(dim.node.expr.free_symbols, key=str):
                if symbol not in symbols:
                    bounds = bound_sympy(symbol, ranges)
                    if not (bounds.lower.is_finite and bounds.upper.is_finite):
                        raise SpecializationError(
                            f"input {node.name!r}: size {symbol} has no finite range {bounds}; "
                            "give it a maximum"
                        )
                    symbols[symbol] = (int(bounds.lower), int(bounds.upper))
    example = _example_values(program)
    points: List[Tuple[str, Dict[sympy.Symbol, int]]] = []
    for label in ("min", "opt", "max", "odd"):
        values = {}
        for symbol, (lo, hi) in symbols.items():
            opt = min(max(example.get(symbol, lo), lo), hi)
            if label == "min":
                values[symbol] = lo
            elif label == "opt":
                values[symbol] = opt
            elif label == "max":
                values[symbol] = hi
            else:
                odd = _odd_inside(lo, hi, (lo, opt, hi))
                values[symbol] = opt if odd is None else odd
        if any(values == seen for _, seen in points):
            continue
        points.append((label, values))
    return points


def _example_values(program: torch.export.ExportedProgram) -> Dict[sympy.Symbol, int]:
    values: Dict[sympy.Symbol, int] = {}
    for node in user_input_nodes(program):
        for dim in node.meta["val"].shape:
            if isinstance(dim, int) or not isinstance(dim.node.expr, sympy.Symbol):
                continue
            hint = dim.node.hint
            if hint is not None:
                values[dim.node.expr] = int(hint)
    return values


def _shapes_at(program: torch.export.ExportedProgram, values: Dict[sympy.Symbol, int]) -> List[Shape]:
    shapes = []
    for dims in _placeholder_dims(program):
        shape = []
        for dim in dims:
            if isinstance(dim, int):
                shape.append(dim)
            else:
                shape.append(int(dim.node.expr.subs(values)))
        shapes.append(tuple(shape))
    return shapes


def default_input(shape: Shape, dtype: torch.dtype, generator: torch.Generator) -> torch.Tensor:
    """Fresh random input: floats ~ N(0, 1), bools 50/50, integers uniform in [-8, 8] (uint8: [0, 16])."""
    if dtype.is_floating_point:
        return torch.randn(shape, generator=generator, dtype=torch.float32).to(dtype)
    if dtype == torch.bool:
        return torch.rand(shape, generator=generator) < 0.5
    if dtype == torch.uint8:
        return torch.randint(0, 17, shape, generator=generator, dtype=dtype)
    return torch.randint(-8, 9, shape, generator=generator, dtype=dtype)


def _call_generator(
    fn: InputGenerator, shape: Shape, dtype: torch.dtype, generator: torch.Generator, shapes: Dict[str, Shape]
) -> torch.Tensor:
    positional = [
        p
        for p in inspect.signature(fn).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(positional) >= 4:
        return fn(shape, dtype, generator, shapes)
    return fn(shape, dtype, generator)


# ----------------------------------------------------------------------------------------------
# comparison


def _flatten(value: Any) -> List[Any]:
    leaves, _ = torch.utils._pytree.tree_flatten(value)
    return leaves


def compare_outputs(
    actual: Any,
    expected: Any,
    *,
    where: str = "",
    tolerances: Optional[Mapping[torch.dtype, Tuple[float, float]]] = None,
) -> None:
    """Assert ``actual`` matches ``expected`` (eager): structure, shapes, dtypes, values within tolerance."""
    tolerances = {**DEFAULT_TOLERANCES, **(tolerances or {})}
    got, want = _flatten(actual), _flatten(expected)
    prefix = f"{where}: " if where else ""
    if len(got) != len(want):
        raise ConverterMismatchError(f"{prefix}{len(got)} outputs, eager has {len(want)}")
    for index, (a, e) in enumerate(zip(got, want)):
        label = f"{prefix}output {index}"
        if not isinstance(e, torch.Tensor):
            if a != e:
                raise ConverterMismatchError(f"{label}: got {a!r}, eager {e!r}")
            continue
        if not isinstance(a, torch.Tensor):
            raise ConverterMismatchError(f"{label}: got {type(a).__name__}, eager a tensor")
        if tuple(a.shape) != tuple(e.shape):
            raise ConverterMismatchError(f"{label}: shape {tuple(a.shape)}, eager {tuple(e.shape)}")
        if a.dtype != e.dtype:
            raise ConverterMismatchError(f"{label}: dtype {a.dtype}, eager {e.dtype}")
        a, e = a.detach().cpu(), e.detach().cpu()
        if not e.dtype.is_floating_point:
            mismatched = a != e
            if bool(mismatched.any()):
                first = tuple(int(i) for i in mismatched.nonzero()[0])
                raise ConverterMismatchError(
                    f"{label} ({e.dtype}, shape {tuple(e.shape)}): {int(mismatched.sum())} of {e.numel()} "
                    f"elements differ (exact match required); first at {first}: got {a[first].item()}, "
                    f"eager {e[first].item()}"
                )
            continue
        rtol, atol = tolerances.get(e.dtype, DEFAULT_TOLERANCES[torch.float32])
        a64, e64 = a.double(), e.double()
        nan_mismatch = torch.isnan(a64) != torch.isnan(e64)
        # an infinity must be matched exactly (same sign); elsewhere the tolerance applies
        inf_mismatch = (torch.isinf(a64) | torch.isinf(e64)) & (a64 != e64)
        error = (a64 - e64).abs()
        error = torch.where(torch.isnan(e64) | torch.isinf(e64), torch.zeros_like(error), error)
        allowed = atol + rtol * e64.abs()
        bad = nan_mismatch | inf_mismatch | (error > allowed)
        if bool(bad.any()):
            finite = error[torch.isfinite(error)]
            max_abs = float(finite.max()) if finite.numel() else float("nan")
            relative = error / e64.abs().clamp_min(1e-12)
            finite_rel = relative[torch.isfinite(relative)]
            max_rel = float(finite_rel.max()) if finite_rel.numel() else float("nan")
            first = tuple(int(i) for i in bad.nonzero()[0])
            raise ConverterMismatchError(
                f"{label} ({e.dtype}, shape {tuple(e.shape)}): {int(bad.sum())} of {e.numel()} elements "
                f"outside rtol={rtol}, atol={atol}; max abs err {max_abs:.3g}, max rel err {max_rel:.3g}; "
                f"first at {first}: got {a[first].item()}, eager {e[first].item()}"
            )


# ----------------------------------------------------------------------------------------------
# the test


@dataclass
class ConverterTestResult:
    """What a converter test built and checked (for further assertions by the test)."""

    exported_program: torch.export.ExportedProgram
    compiled: CompiledModule
    #: (label, {input name: shape}) of every point compared with eager
    points: List[Tuple[str, Dict[str, Shape]]] = field(default_factory=list)

    @property
    def networks(self) -> List[Any]:
        return [engine.network for engine in self.compiled.engines]

    @property
    def layer_types(self) -> "collections.Counter[str]":
        """Layer types over all engines (e.g. ``result.layer_types["CONVOLUTION"]``)."""
        total: "collections.Counter[str]" = collections.Counter()
        for network in self.networks:
            total.update(network_layer_types(network))
        return total

    @property
    def converted_ops(self) -> List[str]:
        return list(itertools.chain.from_iterable(self.compiled.segment_ops.values()))


def run_converter_test(
    module: torch.nn.Module,
    inputs: Sequence[torch.Tensor],
    dynamic: Optional[Mapping[str, Mapping[int, Any]]] = None,
    *,
    dynamic_shapes: Any = None,
    expected_engines: Optional[int] = 1,
    allow_pytorch_nodes: bool = False,
    input_generators: Optional[Mapping[str, InputGenerator]] = None,
    tolerances: Optional[Mapping[torch.dtype, Tuple[float, float]]] = None,
    run_engines: bool = False,
    seed: int = 1234,
    extra_points: Sequence[Mapping[str, Shape]] = (),
    **settings: Any,
) -> ConverterTestResult:
    """Export, compile (CPU executor or, with ``run_engines``, the real engine) and compare with eager.

    ``expected_engines=None`` accepts any number; ``allow_pytorch_nodes`` lifts the no-PyTorch-node
    rule (``require_full_compilation`` is then off unless given). ``extra_points`` are additional
    input shapes ``{name: shape}`` to test. ``settings`` go to torch_tensorrt.
    """
    module = module.eval()
    inputs = tuple(inputs)
    names = _forward_parameter_names(module, len(inputs))
    program = export_dynamic(module, inputs, dynamic, dynamic_shapes=dynamic_shapes)
    options = {"min_block_size": 1, "require_full_compilation": not allow_pytorch_nodes, **settings}
    compiled = compile_cpu(program, run_engines=run_engines, **options)
    result = ConverterTestResult(program, compiled)

    if expected_engines is not None and compiled.num_trt_engines != expected_engines:
        raise ConverterMismatchError(
            f"expected {expected_engines} TensorRT engine(s), torch_tensorrt built {compiled.num_trt_engines}; "
            f"left to PyTorch: {[str(n) for n in compiled.pytorch_nodes]}"
        )
    if not allow_pytorch_nodes and compiled.pytorch_nodes:
        raise ConverterMismatchError(
            f"nodes left to PyTorch (no converter, or a converter refused them): "
            f"{[str(n) for n in compiled.pytorch_nodes]}"
        )

    generators = dict(input_generators or {})
    unknown = set(generators) - set(names)
    if unknown:
        raise ValueError(f"input_generators for unknown inputs {sorted(unknown)}; inputs are {names}")
    dtypes = [tensor.dtype for tensor in inputs]

    planned: List[Tuple[str, List[Shape]]] = [
        (label, _shapes_at(program, values)) for label, values in size_points(program)
    ]
    for index, extra in enumerate(extra_points):
        shapes = [tuple(extra.get(name, tuple(tensor.shape))) for name, tensor in zip(names, inputs)]
        planned.append((f"extra{index}", shapes))

    for point_index, (label, shapes) in enumerate(planned):
        generator = torch.Generator().manual_seed(seed + 7919 * point_index)
        by_name = dict(zip(names, shapes))
        sample = []
        for name, shape, dtype in zip(names, shapes, dtypes):
            fn = generators.get(name, default_input)
            tensor = _call_generator(fn, shape, dtype, generator, by_name)
            if tuple(tensor.shape) != shape or tensor.dtype != dtype:
                raise ValueError(
                    f"input generator for {name!r} returned {tuple(tensor.shape)} {tensor.dtype}, "
                    f"wanted {shape} {dtype}"
                )
            sample.append(tensor)
        where = f"{label} sizes {by_name}"
        with torch.no_grad():
            expected = module(*[t.clone() for t in sample])
            try:
                actual = compiled(*[t.clone() for t in sample])
            except Exception as err:
                # keep the type (e.g. the executor's UnsupportedLayerError), add where it happened
                err.add_note(f"converter test: raised by the compiled program at {where}")
                raise
        compare_outputs(actual, expected, where=where, tolerances=tolerances)
        result.points.append((label, by_name))
    return result


class ConverterTestCase:
    """Mixin for ``unittest.TestCase`` (or a plain pytest class): ``self.run_converter_test(...)``.

    Class attributes set defaults for every test of the class: ``tolerances`` (merged over
    :data:`DEFAULT_TOLERANCES`), ``converter_settings`` (torch_tensorrt settings), ``seed``.
    """

    tolerances: Dict[torch.dtype, Tuple[float, float]] = {}
    converter_settings: Dict[str, Any] = {}
    seed: int = 1234

    def run_converter_test(
        self,
        module: torch.nn.Module,
        inputs: Sequence[torch.Tensor],
        dynamic: Optional[Mapping[str, Mapping[int, Any]]] = None,
        **kwargs: Any,
    ) -> ConverterTestResult:
        kwargs.setdefault("tolerances", {**self.tolerances, **(kwargs.get("tolerances") or {})})
        kwargs.setdefault("seed", self.seed)
        for key, value in self.converter_settings.items():
            kwargs.setdefault(key, value)
        return run_converter_test(module, inputs, dynamic, **kwargs)

    def assert_layer_types(self, result: ConverterTestResult, *layer_types: str) -> None:
        """Assert every named ``trt.LayerType`` (e.g. ``"CONVOLUTION"``) occurs in the built networks."""
        assert_layer_types(result, *layer_types)


def assert_layer_types(result: ConverterTestResult, *layer_types: str) -> None:
    """Assert every named ``trt.LayerType`` occurs in the networks of ``result``."""
    present = result.layer_types
    known = set(trt.LayerType.__members__)
    for name in layer_types:
        if name not in known:
            raise ValueError(f"unknown TensorRT layer type {name!r}")
    missing = [name for name in layer_types if not present.get(name)]
    if missing:
        raise ConverterMismatchError(
            f"layer types {missing} not in the network; it has {dict(sorted(present.items()))}"
        )


__all__.append("assert_layer_types")
