"""Conditions torch.export recorded on the input sizes are checked by the engine (never silently wrong).

``torch.export`` traces one branch of ``if h > w`` and records the condition as a guard; the
exported program's ``module()`` refuses inputs that break it, but torch_tensorrt drops the
``_guards_fn`` call and an optimization profile holds only per-dimension ranges: the compiled
module returned the traced branch's result for any shape in the ranges. The guards that the ranges
do not already imply now become assertion layers in the engine.
"""

import pytest
import torch
from torch.export import Dim

import trt_dyn
from trt_dyn.lowering import MissingDynVariantError
from trt_dyn.lowering.export_guards import guard_expression, input_size_guards, insert_guards
from trt_dyn.testing.compile_cpu import compile_cpu
from trt_dyn.testing.executor import AssertionLayerError
from trt_dyn.testing.harness import export_dynamic


class BranchOnAspect(torch.nn.Module):
    def forward(self, x):
        h, w = x.shape[-2:]
        if h > w:
            return x.transpose(-1, -2) * 2
        return x + 1


class BranchOnParity(torch.nn.Module):
    def forward(self, x):
        if x.shape[-1] % 2 == 1:
            return x - 1
        return x * 3


class NoGuard(torch.nn.Module):
    def forward(self, x):
        return x[..., ::2] * 2 + x.flatten(2).mean(-1)[..., None, None]


def _export(model, example_hw, lo=8, hi=40):
    x = torch.randn(1, 2, *example_hw)
    # auto_dims: named Dims refuse a guard such as h % 2 == 0 instead of recording it
    program = export_dynamic(model, (x,), {"x": {2: (lo, hi), 3: (lo, hi)}}, auto_dims=True)
    assert {str(r) for r in program.range_constraints.values()} == {f"VR[{lo}, {hi}]"}
    return program


def test_relational_guard_is_checked_by_the_engine():
    program = _export(BranchOnAspect(), (12, 20))
    compiled = compile_cpu(program, require_full_compilation=True, min_block_size=1)
    assert compiled.num_trt_engines == 1 and not compiled.pytorch_nodes
    for hw in ((8, 8), (12, 20), (17, 39), (40, 40)):
        x = torch.randn(1, 2, *hw)
        torch.testing.assert_close(compiled(x), BranchOnAspect()(x))
    x = torch.randn(1, 2, 31, 9)  # inside both ranges, but h > w: the other branch
    with pytest.raises(AssertionError, match="Guard failed"):
        program.module()(x)  # what the exported program itself does
    with pytest.raises(AssertionLayerError, match=r"x\.size\(\)\[2\] <= x\.size\(\)\[3\]") as info:
        compiled(x)
    assert "test_export_guards.py" in str(info.value)  # the user's line that made the guard
    # two sizes: the traced example satisfies it, and the first combination of the ranges that does not
    assert "it holds at the traced x.size()[2]=12, x.size()[3]=20 and fails e.g. at x.size()[2]=9, x.size()[3]=8" \
        in str(info.value)


def test_modular_guard_is_checked_by_the_engine():
    program = _export(BranchOnParity(), (10, 14))
    compiled = compile_cpu(program, require_full_compilation=True, min_block_size=1)
    for hw in ((8, 8), (13, 22), (40, 40), (9, 36)):
        x = torch.randn(1, 2, *hw)
        torch.testing.assert_close(compiled(x), BranchOnParity()(x))
    with pytest.raises(AssertionLayerError, match="% 2") as info:
        compiled(torch.randn(1, 2, 10, 15))
    # the message says which sizes the engine takes: W even, 8 to 40 (traced at 14)
    assert "x.size()[3] = 8, 10, ..., 40 (every 2nd)" in str(info.value)


def test_guards_implied_by_the_ranges_add_nothing():
    program = _export(NoGuard(), (12, 20))
    assert input_size_guards(program.graph_module) == []
    compiled = compile_cpu(program, require_full_compilation=True, min_block_size=1)
    network = compiled.engines[0].network if hasattr(compiled.engines[0], "network") else None
    if network is not None:
        from trt_dyn._trt import trt

        kinds = {network.get_layer(i).type for i in range(network.num_layers)}
        assert trt.LayerType.ASSERTION not in kinds
    for hw in ((8, 8), (21, 33), (40, 40)):
        x = torch.randn(1, 2, *hw)
        torch.testing.assert_close(compiled(x), NoGuard()(x))


def test_guard_expression_follows_python_integer_semantics():
    import sympy
    from torch.utils._sympy.functions import FloorDiv, Max, Mod, PythonMod

    h, w = sympy.symbols("h w", integer=True, positive=True)
    cases = [
        (sympy.Le(h, w), {h: 3, w: 3}, True),
        (sympy.Lt(h, w), {h: 3, w: 3}, False),
        (sympy.Eq(Mod(h, 32), 0), {h: 64, w: 1}, True),
        (sympy.Ne(PythonMod(h + 3, 4), 1), {h: 6, w: 1}, False),
        (sympy.Eq(FloorDiv(h - 1, 32) + 1, Max(1, FloorDiv(w, 16))), {h: 65, w: 50}, True),
        (sympy.Or(sympy.Eq(h, 1), sympy.Eq(2 * h, w ** 2)), {h: 8, w: 4}, True),
        (sympy.And(sympy.Ge(h, 2), sympy.Gt(w, h)), {h: 8, w: 4}, False),
    ]
    for expr, values, want in cases:
        text, symbols = guard_expression(expr)
        got = eval(text, {"__builtins__": {}, "min": min, "max": max},
                   {f"v{i}": values[s] for i, s in enumerate(symbols)})
        assert got is want, (expr, text)


def test_unsupported_guard_is_refused_with_its_source():
    import sympy

    h = sympy.Symbol("h", integer=True)
    with pytest.raises(ValueError, match="sin"):
        guard_expression(sympy.Gt(sympy.sin(h), 0))


class AddInputs(torch.nn.Module):
    def forward(self, x, y):
        return torch.relu(x + y)


def test_input_dims_export_unified_must_be_equal():
    rows = Dim("rows", min=1, max=8)  # one Dim for both: torch.export makes them one symbol
    program = torch.export.export(AddInputs(), (torch.randn(4, 3), torch.randn(4, 3)),
                                  dynamic_shapes={"x": {0: rows}, "y": {0: rows}})
    compiled = compile_cpu(program, require_full_compilation=True, min_block_size=1)
    for n in (1, 5, 8):
        x, y = torch.randn(n, 3), torch.randn(n, 3)
        torch.testing.assert_close(compiled(x, y), AddInputs()(x, y))
    x, y = torch.randn(4, 3), torch.randn(1, 3)  # eager broadcasts; the exported program refuses
    with pytest.raises(AssertionError):
        program.module()(x, y)
    with pytest.raises(AssertionLayerError, match=r"x\.size\(\)\[0\] and y\.size\(\)\[0\] must be equal"):
        compiled(x, y)


class WriteIntoPrefix(torch.nn.Module):
    """``y[:, :n] = ...``: torch_tensorrt's decompose_dynamic_slice_scatter rewrites the write into nodes without
    ``meta['val']`` (the output among them), and export guards ``n <= w`` from inside torch (no user frame)."""

    def forward(self, x, z):
        y = x.clone()
        y[:, :z.shape[1]] = z * 2.0
        return y


def test_guard_on_an_output_an_upstream_pass_rewrote():
    """The guard had no output to attach to (the output node carried no traced value): the compile was refused;
    and the guard's source was torch's fake_impls.py instead of the line of the write."""
    batch = Dim("B", min=2, max=16)
    program = torch.export.export(WriteIntoPrefix(), (torch.randn(5, 8), torch.randn(5, 3)),
                                  dynamic_shapes=({0: batch, 1: Dim("w", min=4, max=12)},
                                                  {0: batch, 1: Dim("n", min=1, max=7)}))
    guards = input_size_guards(program.graph_module)
    assert len(guards) == 1
    assert guards[0].source == f"{__file__}:{WriteIntoPrefix.forward.__code__.co_firstlineno + 2}"
    compiled = compile_cpu(program, require_full_compilation=True, min_block_size=1)
    assert compiled.num_trt_engines == 1 and not compiled.pytorch_nodes
    for batch_size, w, n in ((2, 4, 1), (16, 12, 7), (5, 9, 4), (3, 7, 7)):
        x, z = torch.randn(batch_size, w), torch.randn(batch_size, n)
        torch.testing.assert_close(compiled(x, z), WriteIntoPrefix()(x, z))
    with pytest.raises(AssertionLayerError, match=r"z\.size\(\)\[1\] <= x\.size\(\)\[1\]"):
        compiled(torch.randn(3, 5), torch.randn(3, 7))  # n > w: eager raises too, the engine must not write


class ArangeGrid(torch.nn.Module):
    """Detectron2's anchor shifts: ``arange(0.5 * s, W * s, step=s)``, whose length torch writes with float size
    arithmetic (``CeilToInt(FloatTrueDiv(ToFloat(16*W) - 8.0, 16.0))``), then a meshgrid and a reshape."""

    def forward(self, feat):
        h, w = feat.shape[-2:]
        shifts_x = torch.arange(8.0, w * 16, step=16, dtype=torch.float32)
        shifts_y = torch.arange(8.0, h * 16, step=16, dtype=torch.float32)
        shift_y, shift_x = torch.meshgrid(shifts_y, shifts_x, indexing="ij")
        return torch.stack((shift_x.reshape(-1), shift_y.reshape(-1)), dim=1).view(-1, 1, 2) + feat.mean()


def test_float_size_guards_implied_by_the_ranges_add_nothing():
    """Guards on float arange lengths were refused as unconvertible although the ranges imply them (the anchor
    grid pattern stopped compiling); they are evaluated in float64 as the traced Python did."""
    program = torch.export.export(ArangeGrid(), (torch.randn(1, 2, 12, 17),),
                                  dynamic_shapes=({2: Dim("H", min=2, max=100), 3: Dim("W", min=2, max=100)},))
    assert input_size_guards(program.graph_module) == []
    compiled = compile_cpu(program, require_full_compilation=True, min_block_size=1)
    assert compiled.num_trt_engines == 1 and not compiled.pytorch_nodes
    for hw in ((2, 2), (100, 100), (3, 99), (37, 51)):
        feat = torch.randn(1, 2, *hw)
        torch.testing.assert_close(compiled(feat), ArangeGrid()(feat))


class BranchOnArangeLength(torch.nn.Module):
    def forward(self, feat):
        shifts = torch.arange(8.0, feat.shape[-1] * 16, step=16, dtype=torch.float32)
        if shifts.shape[0] > 10:
            return feat.mean(-1) + shifts.sum()
        return feat.mean(-1) - shifts.sum()


def test_float_size_guard_not_implied_is_refused():
    """A branch on an arange length guards float shape arithmetic the ranges do not imply: the engine has no check
    for it, so the compile is refused, naming the function and the user's line."""
    program = export_dynamic(BranchOnArangeLength(), (torch.randn(1, 2, 12, 17),), {"feat": {3: (2, 100)}},
                             auto_dims=True)
    guards = input_size_guards(program.graph_module)
    assert guards and all("CeilToInt" in str(guard.expr) for guard in guards)
    with pytest.raises(MissingDynVariantError, match="CeilToInt") as info:
        compile_cpu(program, require_full_compilation=True, min_block_size=1)
    assert "test_export_guards.py" in str(info.value)


class BranchWithWeight(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("offset", torch.tensor(0.5))

    def forward(self, x):
        h, w = x.shape[-2:]
        if h > w:
            return x.transpose(-1, -2) * 2 + self.offset
        return x + self.offset


def test_guards_are_found_when_a_get_attr_comes_before_the_inputs():
    """An unlifted graph may hold get_attr nodes before its placeholders (torchvision's swin_v2_t does): the guards
    and the input dims were read from the leading placeholders only, so none was found and the engine computed the
    traced branch for every shape in the ranges."""
    from trt_dyn.lowering.pipeline import as_the_dyn_lowering_sees_it
    from trt_dyn.lowering.toolbox import input_dims_by_symbol

    program = _export(BranchWithWeight(), (12, 20))
    gm = as_the_dyn_lowering_sees_it(program)
    (x,) = gm.graph.find_nodes(op="placeholder")
    weight = next(node for node in gm.graph.nodes if node.op == "get_attr")
    x.prepend(weight)  # the weight first, then the input
    gm.recompile()
    assert next(iter(gm.graph.nodes)) is weight
    assert sorted(dim for _, dim in sum(input_dims_by_symbol(gm.graph).values(), [])) == [2, 3]
    (guard,) = input_size_guards(gm)
    assert len(guard.expr.free_symbols) == 2  # h <= w
    trt_dyn.lower(gm)
    assert insert_guards(gm) == 1
    x = torch.randn(1, 2, 12, 20)
    out = gm(x)
    torch.testing.assert_close(out[0] if isinstance(out, (tuple, list)) else out, BranchWithWeight()(x))
    with pytest.raises(AssertionError):
        gm(torch.randn(1, 2, 31, 9))  # inside both ranges, but h > w: the guard refuses it


@pytest.mark.parametrize("values, text", [
    ([], "no size"),
    ([5, 9], "5, 9"),
    (list(range(8, 41)), "8 to 40"),
    (list(range(2, 30, 3)), "2, 5, ..., 29 (every 3rd)"),
    (list(range(7, 100, 11)), "7, 18, ..., 95 (every 11th)"),
    ([1, 2, 3, 10, 11, 20], "1 to 3, 10 to 11, 20"),
    ([1, 3, 4, 8, 12, 13, 17, 30], "1, 3, 4, 8, 12, 13, ... (8 sizes)"),
])
def test_sizes_a_guard_accepts_are_said_in_a_few_words(values, text):
    from trt_dyn.lowering.export_guards import _listed

    assert _listed(values) == text
