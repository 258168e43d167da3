"""The replica exported with dynamic image height/width: nothing specialized, same results as eager."""

import pytest
import torch
import torchvision  # noqa: F401  (registers torchvision::roi_align before programs using it are loaded)

from trt_dyn.models.cascade_mask_rcnn import build_cascade_mask_rcnn
from trt_dyn.models.export import export_cascade, image_size_ranges

MIN_HW, MAX_HW, STEP = 256, 768, 16


@pytest.fixture(scope="module")
def model():
    return build_cascade_mask_rcnn(seed=0)


@pytest.fixture(scope="module")
def exported(model):
    return export_cascade(model, MIN_HW, MAX_HW, STEP)  # traced at 512x528


@pytest.fixture(scope="module")
def exported_module(exported):
    return exported.module()


def random_image(height, width, seed):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, height, width, generator=generator) * 255


def assert_same_outputs(program_outputs, eager_outputs):
    names = ("boxes", "scores", "classes", "masks")
    assert len(program_outputs) == len(eager_outputs) == 4
    for name, got, want in zip(names, program_outputs, eager_outputs):
        assert got.shape == want.shape, name
        assert got.dtype == want.dtype, name
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-4, msg=lambda m: f"{name}: {m}")


def image_dims(exported_program):
    (image,) = [
        n for n in exported_program.graph.nodes
        if n.op == "placeholder" and n.name in exported_program.graph_signature.user_inputs
    ]
    return image.meta["val"].shape[2], image.meta["val"].shape[3]


def test_image_height_and_width_stay_symbolic_with_the_intended_range(exported):
    assert image_size_ranges(exported) == {"height": (MIN_HW, MAX_HW), "width": (MIN_HW, MAX_HW)}
    height, width = image_dims(exported)
    assert isinstance(height, torch.SymInt) and isinstance(width, torch.SymInt)
    h_sym, w_sym = height.node.expr, width.node.expr
    assert h_sym != w_sym and h_sym.is_Symbol and w_sym.is_Symbol
    for symbol in (h_sym, w_sym):
        bounds = exported.range_constraints[symbol]
        assert (int(bounds.lower), int(bounds.upper)) == (MIN_HW, MAX_HW)


# min, opt (the traced example), max, odd multiples of the step (272 = 17*16, 528 = 33*16, 752 = 47*16, 304 = 19*16), mixed aspect.
@pytest.mark.parametrize("hw", [(256, 256), (512, 528), (768, 768), (272, 528), (752, 304)])
def test_exported_program_matches_eager(model, exported_module, hw):
    image = random_image(*hw, seed=hw[0] * 7 + hw[1])
    with torch.no_grad():
        assert_same_outputs(exported_module(image), model(image))


def test_graph_contains_the_ops_that_break_upstream(exported):
    targets = [node.target for node in exported.graph.nodes if node.op == "call_function"]
    aten = torch.ops.aten
    # 4 poolers (3 box stages + mask) x 4 levels: nonzero -> gather -> roi_align -> index_put_ each.
    assert targets.count(aten.nonzero.default) == 16
    assert targets.count(torch.ops.torchvision.roi_align.default) == 16
    assert targets.count(aten.index_put_.default) == 16
    assert targets.count(aten.index.Tensor) >= 16 + 5  # pooler gathers, RPN top-k gathers, mask class pick
    assert aten.sym_size.int in targets
    assert aten.upsample_bicubic2d.vec in targets  # absolute position embedding resize
    assert aten.upsample_linear1d.vec in targets  # relative position table resize in global blocks

    # Shapes computed from the symbolic image size feed ops as SymInt arguments.
    topk_ks = [n.args[1] for n in exported.graph.nodes if n.target == aten.topk.default]
    assert any(isinstance(k, torch.fx.Node) for k in topk_ks), "a level's top-k count is min(K, anchors)"
    pads = [n for n in exported.graph.nodes if n.target == aten.pad.default]
    assert pads and all(any(isinstance(p, torch.fx.Node) for p in n.args[1]) for n in pads)
    aranges = [n for n in exported.graph.nodes if n.target in (aten.arange.default, aten.arange.start_step)]
    assert any(any(isinstance(a, torch.fx.Node) for a in n.args) for n in aranges)


@pytest.mark.parametrize("hw", [(260, 256), (240, 256), (256, 784)])
def test_sizes_outside_the_contract_are_rejected(exported_module, hw):
    with pytest.raises(Exception, match="size"):
        exported_module(random_image(*hw, seed=0))


def test_save_load_round_trip(model, exported, tmp_path):
    path = tmp_path / "cascade.pt2"
    torch.export.save(exported, path)
    loaded = torch.export.load(path)
    assert image_size_ranges(loaded) == {"height": (MIN_HW, MAX_HW), "width": (MIN_HW, MAX_HW)}
    image = random_image(528, 272, seed=11)
    with torch.no_grad():
        assert_same_outputs(loaded.module()(image), model(image))
    with pytest.raises(Exception, match="size"):
        loaded.module()(random_image(264, 256, seed=0))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(min_hw=256, max_hw=768, step=0, example_hw=(352, 480)), "step"),
        (dict(min_hw=250, max_hw=768, step=16, example_hw=(352, 480)), "multiple"),
        (dict(min_hw=256, max_hw=768, step=16, example_hw=(352, 800)), "inside"),
        (dict(min_hw=512, max_hw=256, step=16, example_hw=(352, 480)), "min_hw < max_hw"),
        (dict(min_hw="big", max_hw=768, step=16, example_hw=(352, 480)), "min_hw"),
    ],
)
def test_export_arguments_are_validated(model, kwargs, message):
    with pytest.raises(ValueError, match=message):
        export_cascade(model, **kwargs)
