"""Export with dynamic ranges and check that torch.export kept every requested range exactly.

``export_dynamic(module, inputs, {"x": {0: (1, 8)}})`` is the one export-with-ranges helper of the
tests: named ``Dim`` ranges first (export's suggested fixes applied when it finds two axes equal),
else ``Dim.AUTO(min=, max=)`` (``auto_dims=True``: only that, so size conditions become guards);
either way every requested axis must stay symbolic over exactly its range, else
:class:`SpecializationError`.
"""

from __future__ import annotations

import inspect
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from torch.export import Dim
from torch.utils._sympy.value_ranges import bound_sympy

from ...inputs import user_input_nodes

Range = Tuple[int, int]


class SpecializationError(AssertionError):
    """torch.export pinned or narrowed a dimension the test declared dynamic."""


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
    auto_dims: bool = False,
) -> torch.export.ExportedProgram:
    """Export ``module`` with the harness's dynamic ranges and check none was specialized.

    See the package docstring for ``dynamic``. Raises :class:`SpecializationError` when the exported
    program does not keep a requested axis dynamic over exactly the requested range.

    ``auto_dims=True`` skips the named ``Dim`` attempt and exports with ``Dim.AUTO(min=, max=)``
    only: a condition the model puts on its sizes (``if h > w``, ``h % 2``) then becomes a guard of
    the program, where named Dims would refuse the range or turn it into a derived dim.
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
    if auto_dims:
        program = _export_auto(module, inputs, names, dynamic, requested)
        _check_not_specialized(program, names, requested)
        return program

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
        try:
            program = _export_auto(module, inputs, names, dynamic, requested)
        except SpecializationError as auto_error:
            raise SpecializationError(f"{auto_error}\n  (with named Dims: {named_error})") from auto_error
    _check_not_specialized(program, names, requested)
    return program


def _export_auto(
    module: torch.nn.Module,
    inputs: Tuple[torch.Tensor, ...],
    names: Sequence[str],
    dynamic: Dict[str, Dict[int, Any]],
    requested: Dict[Tuple[str, int], Range],
) -> torch.export.ExportedProgram:
    # Bounds on the module itself, not a torch._check wrapper: the program's inputs keep the
    # forward's names, which guard messages and compile errors quote.
    auto = {
        name: {
            axis: Dim.AUTO(min=requested[(name, axis)][0], max=requested[(name, axis)][1])
            for axis in dynamic.get(name, {})
        }
        or None
        for name in names
    }
    try:
        return torch.export.export(module, inputs, dynamic_shapes=auto)
    except Exception as error:
        raise SpecializationError(
            f"torch.export refused the dynamic ranges {requested} with Dim.AUTO(min, max): {error}"
        ) from error


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


__all__ = ["SpecializationError", "export_dynamic"]
