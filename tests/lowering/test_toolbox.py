"""What trt_dyn's lowering toolbox assumes of torch internals: the graph's fake mode, schema arguments read once, and
torch.fx code generation deferred to a module's first use (the lowered module must still compute what eager PyTorch
computes)."""

import copy
import operator
import pickle

import pytest
import torch
import torch.nn.functional as F
from torch.export import Dim

import trt_dyn
from trt_dyn.lowering.toolbox import (bind_arguments, code_generation_pending, generate_code_on_first_use,
                                     graph_fake_mode, schema_arguments)


class _Block(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        tokens = x.flatten(2).transpose(1, 2)
        grid = tokens.reshape(batch, height, width, channels).permute(0, 3, 1, 2)
        resized = F.interpolate(grid[:, :, ::2, ::2], size=x.shape[-2:], mode="nearest")
        column = x.new_zeros(batch, channels, height, 1)
        return torch.cat([resized, column], dim=3)[:, :, :, :width] + x.mean(dim=(2, 3), keepdim=True).expand_as(x)


def _exported() -> torch.export.ExportedProgram:
    dims = {2: Dim("h", min=8, max=64), 3: Dim("w", min=8, max=64)}
    return torch.export.export(_Block(), (torch.randn(1, 3, 12, 10),), dynamic_shapes=(dims,)).run_decompositions({})


def _sizes():
    generator = torch.Generator().manual_seed(16)
    return [(int(torch.randint(8, 65, (1,), generator=generator)), int(torch.randint(8, 65, (1,), generator=generator)))
            for _ in range(3)] + [(8, 64), (64, 8)]


def test_graph_fake_mode_is_the_mode_of_the_placeholders_values():
    gm = _exported().graph_module
    placeholder = next(node for node in gm.graph.nodes if node.op == "placeholder")
    mode = graph_fake_mode(gm)
    assert mode is placeholder.meta["val"].fake_mode
    height = placeholder.meta["val"].shape[2]
    assert mode.shape_env is height.node.shape_env, "new values must share the graph's ShapeEnv"


def test_graph_fake_mode_of_a_graph_without_fake_values_is_none():
    gm = torch.fx.symbolic_trace(lambda x: x + 1)
    assert graph_fake_mode(gm) is None


def _edited(fn):
    """A traced ``fn`` whose add was then turned into a mul, its code not regenerated yet."""
    gm = torch.fx.symbolic_trace(fn)
    for node in gm.graph.nodes:
        if node.target is operator.add:
            node.target = operator.mul
    return gm


def test_torch_fx_recompile_installs_forward_on_the_module_class_and_code_reads_it():
    gm = _edited(lambda x, y: x + y)
    python = gm.recompile()
    assert "forward" in vars(type(gm))
    assert gm.code == python.src == gm.graph.python_code("self").src
    x, y = torch.randn(4), torch.randn(4)
    torch.testing.assert_close(gm(x, y), x * y)


@pytest.mark.parametrize("first_use", ["call", "code", "str", "deepcopy", "copy", "pickle"])
def test_deferred_code_is_generated_from_the_current_graph_at_first_use(first_use):
    gm = _edited(lambda x, y: x + y)
    own_class = type(gm)
    generate_code_on_first_use(gm)
    assert code_generation_pending(gm)
    assert "x + y" in gm._code, "nothing generated yet: the code of the traced graph is still held"
    x, y = torch.randn(3, 5), torch.randn(3, 5)
    if first_use == "call":
        result = gm(x, y)
    elif first_use == "code":
        assert "*" in gm.code
        result = gm(x, y)
    elif first_use == "str":
        assert "*" in str(gm)
        result = gm(x, y)
    elif first_use == "deepcopy":
        result = copy.deepcopy(gm)(x, y)
    elif first_use == "copy":
        result = copy.copy(gm)(x, y)
    else:
        result = pickle.loads(pickle.dumps(gm))(x, y)
    torch.testing.assert_close(result, x * y)
    assert not code_generation_pending(gm)
    assert type(gm) is own_class, "the module's own class is back once its code exists"
    assert gm.code == gm.graph.python_code("self").src
    torch.testing.assert_close(gm(x, y), x * y)


def test_recompile_of_a_deferred_module_generates_now_and_returns_the_code():
    gm = _edited(lambda x, y: x + y)
    generate_code_on_first_use(gm)
    python = gm.recompile()
    assert python.src == gm.code and "*" in python.src


def test_the_lowered_module_itself_computes_what_eager_computes():
    program = _exported()
    gm = program.graph_module
    trt_dyn.lower(gm)
    assert code_generation_pending(gm), "the lowering pass leaves torch.fx's code generation to the first use"
    assert any(str(node.target).startswith("trt_dyn.") for node in gm.graph.nodes), "nothing was lowered"
    expected_code = gm.graph.python_code("self").src
    model = _Block()
    for height, width in _sizes():
        x = torch.randn(1, 3, height, width)
        (result,) = gm(x)
        torch.testing.assert_close(result, model(x), rtol=0, atol=0)
    assert gm.code == expected_code


@pytest.mark.parametrize("op", [torch.ops.aten.new_zeros.default, torch.ops.aten.upsample_nearest2d.vec,
                                torch.ops.aten.sum.dim_IntList, torch.ops.trt_dyn.interpolate_dyn.default])
def test_schema_arguments_say_what_the_schema_says(op):
    live = op._schema.arguments
    read = schema_arguments(op)
    assert [arg.name for arg in read] == [arg.name for arg in live]
    for cached, arg in zip(read, live):
        optional = isinstance(arg.type, torch.OptionalType)
        inner = arg.type.getElementType() if optional else arg.type
        assert (cached.kwarg_only, cached.has_default, cached.optional, cached.is_tensor) == \
            (arg.kwarg_only, arg.has_default_value(), optional, isinstance(inner, torch.TensorType))
        if arg.has_default_value():
            assert cached.default == arg.default_value


def test_bound_list_defaults_are_not_shared_between_calls():
    op = torch.ops.aten.max_pool2d.default  # stride=[], padding=0, dilation=1: list defaults
    x = torch.randn(1, 2, 9, 8)
    first, second = bind_arguments(op, (x, [2, 2]), {}), bind_arguments(op, (x, [2, 2]), {})
    assert first["padding"] == [0, 0] and first["dilation"] == [1, 1] and first["stride"] == []
    first["padding"].append(7)
    assert second["padding"] == [0, 0] and bind_arguments(op, (x, [2, 2]), {})["padding"] == [0, 0]
    assert torch.equal(op(**second), F.max_pool2d(x, 2))


def test_a_compile_generates_the_lowered_graphs_code_only_after_trt_dyns_passes(monkeypatch):
    """In a compile, the code of the lowered graph is first generated by torch_tensorrt (its partitioner recompiles
    before partitioning), never by trt_dyn's passes; the compiled module equals eager."""
    import traceback

    from trt_dyn.lowering import dyn_pass
    from trt_dyn.testing import compile_cpu

    lowered = []
    generated_in = []
    lower_graph_module = dyn_pass.lower_graph_module

    def remembering(gm, *args, **kwargs):
        lowered.append(gm)
        return lower_graph_module(gm, *args, **kwargs)

    recompile = torch.fx.GraphModule.recompile

    def watched(self):
        if any(self is gm for gm in lowered):
            generated_in.append([frame.filename for frame in traceback.extract_stack()[:-1]])
        return recompile(self)

    monkeypatch.setattr(dyn_pass, "lower_graph_module", remembering)
    monkeypatch.setattr(torch.fx.GraphModule, "recompile", watched)
    compiled = compile_cpu(_exported(), require_full_compilation=True, min_block_size=1)
    assert len(lowered) == 1 and generated_in, "the lowered graph's code is generated during the compile"
    first = generated_in[0]
    assert not any("/trt_dyn/lowering/" in name for name in first if "toolbox.py" not in name), \
        "a trt_dyn pass generated code that torch_tensorrt generates again"
    assert any("/torch_tensorrt/" in name for name in first)
    model = _Block()
    for height, width in _sizes():
        x = torch.randn(1, 3, height, width)
        result = compiled(x)
        torch.testing.assert_close(result[0] if isinstance(result, (tuple, list)) else result, model(x),
                                   rtol=1e-6, atol=1e-6)


def test_input_sizes_reads_every_placeholder_wherever_it_stands():
    from trt_dyn.lowering.toolbox import input_sizes

    class Scaled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.randn(3, 1, 1))

        def forward(self, x):
            return x * self.scale

    dims = {2: Dim("h", min=8, max=64), 3: Dim("w", min=8, max=64)}
    gm = torch.export.export(Scaled(), (torch.randn(1, 3, 12, 10),), dynamic_shapes=(dims,)).module()
    (x,) = gm.graph.find_nodes(op="placeholder")
    weight = next(node for node in gm.graph.nodes if node.op == "get_attr")
    x.prepend(weight)  # an unlifted graph may hold its weights before the inputs
    with gm.graph.inserting_after(x):
        count = gm.graph.placeholder("count")
    count.meta["val"] = 7  # a number input, as torch.compile hands sizes
    assert next(iter(gm.graph.nodes)) is weight
    sizes = list(input_sizes(gm.graph))
    assert [(node.name, dim) for node, dim, _ in sizes] == [("x", 0), ("x", 1), ("x", 2), ("x", 3), ("count", None)]
    assert [type(size) for _, _, size in sizes] == [int, int, torch.SymInt, torch.SymInt, int]
    assert str(sizes[2][2]) != str(sizes[3][2])  # h and w: two symbols
