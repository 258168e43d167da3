"""Export the replica with a dynamic image height and width that nothing specializes.

The image dims are traced as ``Dim.AUTO`` and a wrapper bounds them with ``torch._check``: the range
checks become the symbols' ``range_constraints`` and the multiple-of-step check becomes an input guard,
so H and W stay plain symbols (``step * Dim`` would make derived dims, which the brief reports break
after ``torch.export.save``/``load``). After export every assumption is verified and a violation raises.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple, Union

import torch
from torch import nn
from torch.export import Dim
from torch.utils._sympy.value_ranges import bound_sympy

HW = Union[int, Tuple[int, int]]


class ExportError(RuntimeError):
    """The exported program does not keep the image size dynamic over the requested range."""


def _pair(name: str, value: HW) -> Tuple[int, int]:
    if isinstance(value, int):
        return value, value
    try:
        h, w = value
        return int(h), int(w)
    except (TypeError, ValueError) as err:
        raise ValueError(f"export_cascade: {name} must be an int or (height, width), got {value!r}") from err


class DynamicImageSize(nn.Module):
    """Runs ``model(images)`` after asserting lo <= H, W <= hi and H, W % step == 0 on the traced sizes."""

    def __init__(self, model: nn.Module, min_hw: Tuple[int, int], max_hw: Tuple[int, int], step: int):
        super().__init__()
        self.model = model
        self.min_hw = min_hw
        self.max_hw = max_hw
        self.step = step

    def forward(self, images: torch.Tensor):
        height, width = images.shape[2], images.shape[3]
        for size, lo, hi in ((height, self.min_hw[0], self.max_hw[0]), (width, self.min_hw[1], self.max_hw[1])):
            torch._check(size >= lo)
            torch._check(size <= hi)
            torch._check(size % self.step == 0)
        return self.model(images)


def _image_shape(exported_program: torch.export.ExportedProgram):
    placeholders = [
        node
        for node in exported_program.graph.nodes
        if node.op == "placeholder" and node.name in exported_program.graph_signature.user_inputs
    ]
    if len(placeholders) != 1:
        raise ExportError(f"expected one image input, found {[n.name for n in placeholders]}")
    return placeholders[0].meta["val"].shape


def image_size_ranges(exported_program: torch.export.ExportedProgram) -> Dict[str, Tuple[int, int]]:
    """{"height": (lo, hi), "width": (lo, hi)} of the image input as the exported program bounds them.

    Raises :class:`ExportError` if either dim was specialized to an int.
    """
    shape = _image_shape(exported_program)
    ranges = {}
    for axis, name in ((2, "height"), (3, "width")):
        dim = shape[axis]
        if isinstance(dim, int):
            raise ExportError(f"image {name} was specialized to {dim}: the exported program is not dynamic")
        bounds = bound_sympy(dim.node.expr, dict(exported_program.range_constraints))
        ranges[name] = (int(bounds.lower), int(bounds.upper))
    return ranges


def _default_example(min_hw, max_hw, step) -> Tuple[int, int]:
    height = (min_hw[0] + max_hw[0]) // 2 // step * step
    width = (min_hw[1] + max_hw[1]) // 2 // step * step
    if width == height:
        width = width + step if width + step <= max_hw[1] else width - step
    return height, width


def export_cascade(
    model: nn.Module,
    min_hw: HW = 256,
    max_hw: HW = 768,
    step: int = 16,
    example_hw: Optional[HW] = None,
) -> torch.export.ExportedProgram:
    """Export ``model`` (images (1, 3, H, W) -> outputs) with H, W dynamic in [min_hw, max_hw], multiples of ``step``.

    ``example_hw`` is the traced example (default: near the middle of the range, width one step more
    than height). The result is checked: H and W must remain distinct symbols whose ranges are exactly the requested
    ones, else :class:`ExportError`.
    """
    min_hw, max_hw = _pair("min_hw", min_hw), _pair("max_hw", max_hw)
    if not isinstance(step, int) or step <= 0:
        raise ValueError(f"export_cascade: step must be a positive int, got {step!r}")
    if example_hw is None:
        example_hw = _default_example(min_hw, max_hw, step)
    example_hw = _pair("example_hw", example_hw)
    for name, (h, w) in (("min_hw", min_hw), ("max_hw", max_hw), ("example_hw", example_hw)):
        if h % step or w % step:
            raise ValueError(f"export_cascade: {name}={(h, w)} is not a multiple of step={step}")
    for axis in range(2):
        if not min_hw[axis] <= example_hw[axis] <= max_hw[axis] or min_hw[axis] >= max_hw[axis]:
            raise ValueError(
                f"export_cascade: need min_hw < max_hw and example_hw inside, got {min_hw}, {example_hw}, {max_hw}"
            )

    wrapper = DynamicImageSize(model, min_hw, max_hw, step).eval()
    example = torch.rand(1, 3, *example_hw) * 255
    with torch.no_grad():
        exported = torch.export.export(wrapper, (example,), dynamic_shapes=({2: Dim.AUTO, 3: Dim.AUTO},))

    ranges = image_size_ranges(exported)
    wanted = {"height": (min_hw[0], max_hw[0]), "width": (min_hw[1], max_hw[1])}
    if ranges != wanted:
        raise ExportError(f"exported image size ranges {ranges} differ from the requested {wanted}")
    shape = _image_shape(exported)
    if shape[2].node.expr == shape[3].node.expr:
        raise ExportError("export merged image height and width into one symbol; try a non-square example_hw")
    return exported
