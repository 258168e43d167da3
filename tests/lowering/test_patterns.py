"""The dyn lowering on real-model patterns: exported with dynamic dims, decomposed like torch_tensorrt
does, lowered, then checked for SymInt leaks and against PyTorch eager on fresh inputs at the
range ends, the example size and odd sizes."""

import math

import torch
import torch.nn.functional as F
from torch.export import Dim

import trt_dyn
from dyn_helpers import _symbolic, assert_same, export_decomposed, lower_and_check, symint_leaks

AUTO = Dim.AUTO


def _hw_inputs(batch=2, channels=3, channels_last=False):
    def make(size):
        h, w = size
        shape = (batch, h, w, channels) if channels_last else (batch, channels, h, w)
        return (torch.randn(shape),)

    return make


class WindowPartition(torch.nn.Module):
    """ViTDet window attention plumbing: pad to a multiple of the window, partition, unpartition."""

    def __init__(self, window: int = 7):
        super().__init__()
        self.window = window

    def forward(self, x):  # (B, H, W, C)
        B, H, W, C = x.shape
        torch._check(H >= 8)
        torch._check(H <= 64)
        torch._check(W >= 8)
        torch._check(W <= 64)
        ws = self.window
        pad_h = (ws - H % ws) % ws
        pad_w = (ws - W % ws) % ws
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
        Hp, Wp = H + pad_h, W + pad_w
        x = x.view(B, Hp // ws, ws, Wp // ws, ws, C)
        windows = x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, ws, ws, C)
        windows = windows * 2.0  # stand-in for attention inside each window
        y = windows.view(B, Hp // ws, Wp // ws, ws, ws, -1)
        y = y.permute(0, 1, 3, 2, 4, 5).contiguous().view(B, Hp, Wp, -1)
        return windows, y[:, :H, :W, :].contiguous()


def test_vitdet_window_partition_with_padding():
    lower_and_check(
        WindowPartition(), (torch.randn(2, 20, 30, 8),), ({1: AUTO, 2: AUTO},),
        _hw_inputs(2, 8, channels_last=True),
        # multiples of 7 are excluded: torch.export itself guards them out of this program
        [(8, 8), (15, 22), (64, 64), (33, 9), (20, 30), (13, 50)],
    )


class DinoReferencePoints(torch.nn.Module):
    """DINO / Deformable-DETR encoder reference points, arange form (keeps H, W dynamic)."""

    def forward(self, feat):
        H, W = feat.shape[-2:]
        ref_y = (torch.arange(H, dtype=torch.float32) + 0.5) / H
        ref_x = (torch.arange(W, dtype=torch.float32) + 0.5) / W
        ref_y, ref_x = torch.meshgrid(ref_y, ref_x, indexing="ij")
        ref = torch.stack((ref_x.reshape(-1), ref_y.reshape(-1)), -1)
        return ref[None].expand(feat.shape[0], -1, -1) + feat.flatten(2).mean(1, keepdim=True).transpose(1, 2)


def test_dino_reference_points_arange_form():
    lower_and_check(
        DinoReferencePoints(), (torch.randn(2, 4, 10, 13),), ({2: Dim("H", min=1, max=64), 3: Dim("W", min=1, max=64)},),
        _hw_inputs(2, 4), [(1, 1), (10, 13), (64, 64), (7, 33), (1, 64)],
    )


class DinoLinspace(torch.nn.Module):
    def forward(self, feat):
        H = feat.shape[2]
        return torch.linspace(0.5, H - 0.5, H, dtype=torch.float32)[:, None] + feat.mean((0, 1, 3))[:, None]


class DinoLinspaceDyn(torch.nn.Module):
    """How model code keeps H dynamic: call the dyn op with H as a shape tensor."""

    def forward(self, feat):
        h = torch.ops.trt_dyn.sym_size_dyn(feat, 2)
        start = torch.ops.trt_dyn.const_scalar(0.5)
        end = torch.ops.trt_dyn.sub_dyn(torch.ops.trt_dyn.float_dyn(h), start)
        ref = torch.ops.trt_dyn.linspace_dyn(start, end, h, dtype=torch.float32)
        return ref[:, None] + feat.mean((0, 1, 3))[:, None]


def test_linspace_specialises_but_linspace_dyn_stays_dynamic():
    example = (torch.randn(1, 2, 10, 3),)
    ep = torch.export.export(DinoLinspace(), example, dynamic_shapes=({2: AUTO},))
    placeholder = next(n for n in ep.graph.nodes if n.op == "placeholder")
    assert not _symbolic(placeholder.meta["val"].shape[2]), "torch.linspace no longer specialises H"

    ep = export_decomposed(DinoLinspaceDyn(), example, ({2: Dim("H", min=1, max=64)},))
    placeholder = next(n for n in ep.graph.nodes if n.op == "placeholder")
    height = placeholder.meta["val"].shape[2]
    assert isinstance(height, torch.SymInt)
    out = next(n for n in ep.graph.nodes if n.op == "output").args[0][0]
    assert out.meta["val"].shape[0] == height  # precise symbolic length, not a fresh unbacked size
    trt_dyn.lower(ep)
    assert not symint_leaks(ep.graph_module)
    for h in (1, 2, 10, 37, 64):
        feat = torch.randn(1, 2, h, 3)
        expected = DinoLinspace()(feat)
        assert_same(ep.module()(feat), expected, exact=False)


class AnchorGrid(torch.nn.Module):
    """Detectron2-style anchor generator: shifts from arange over H and W, meshgrid, plus cell anchors."""

    def __init__(self, stride: int = 16):
        super().__init__()
        self.stride = stride
        self.register_buffer("cell_anchors", torch.tensor(
            [[-22.6, -11.3, 22.6, 11.3], [-16.0, -16.0, 16.0, 16.0], [-11.3, -22.6, 11.3, 22.6]]))

    def forward(self, feat):
        H, W = feat.shape[-2:]
        s = self.stride
        shifts_x = torch.arange(0.5 * s, W * s, step=s, dtype=torch.float32)
        shifts_y = torch.arange(0.5 * s, H * s, step=s, dtype=torch.float32)
        shift_y, shift_x = torch.meshgrid(shifts_y, shifts_x, indexing="ij")
        shift_x, shift_y = shift_x.reshape(-1), shift_y.reshape(-1)
        shifts = torch.stack((shift_x, shift_y, shift_x, shift_y), dim=1)
        return (shifts.view(-1, 1, 4) + self.cell_anchors.view(1, -1, 4)).reshape(-1, 4)


def test_anchor_grid():
    lower_and_check(
        AnchorGrid(), (torch.randn(1, 8, 12, 17),), ({2: Dim("H", min=2, max=100), 3: Dim("W", min=2, max=100)},),
        _hw_inputs(1, 8), [(2, 2), (12, 17), (100, 100), (3, 99), (50, 2)],
    )


class FpnTopDown(torch.nn.Module):
    """FPN top-down merge: upsample the coarser map to the lateral's size (independent dynamic sizes)."""

    def forward(self, lateral, top):
        nearest = F.interpolate(top, size=lateral.shape[-2:], mode="nearest")
        bilinear = F.interpolate(top, size=lateral.shape[-2:], mode="bilinear", align_corners=True)
        doubled = F.interpolate(top, scale_factor=2.0, mode="nearest")
        return lateral + nearest, bilinear, doubled


def test_fpn_interpolate_to_other_shape():
    dims = {2: Dim("H", min=2, max=64), 3: Dim("W", min=2, max=64)}
    small = {2: Dim("h", min=1, max=32), 3: Dim("w", min=1, max=32)}

    def make(size):
        (h, w), (hh, ww) = size
        return torch.randn(1, 4, h, w), torch.randn(1, 4, hh, ww)

    lower_and_check(
        FpnTopDown(), (torch.randn(1, 4, 20, 26), torch.randn(1, 4, 10, 13)), (dims, small), make,
        [((20, 26), (10, 13)), ((2, 2), (1, 1)), ((64, 64), (32, 32)), ((17, 9), (9, 5)), ((5, 63), (3, 31))],
    )


class TopKMin(torch.nn.Module):
    """RPN pre-NMS top-k: k = min(K, number of candidates)."""

    def forward(self, scores):
        torch._check(scores.shape[1] <= 5000)
        k = min(100, scores.shape[1])
        values, indices = scores.topk(k, dim=1)
        return values, indices


def test_topk_min_k():
    lower_and_check(
        TopKMin(), (torch.randn(2, 300),), ({1: AUTO},),
        lambda n: (torch.randn(2, n),), [1, 2, 99, 100, 101, 300, 4999, 5000],
    )


class DynamicSplit(torch.nn.Module):
    def forward(self, x):
        H = x.shape[1]
        torch._check(H >= 4)
        torch._check(H <= 64)
        top, bottom = torch.split(x, [H // 2, H - H // 2], dim=1)
        return top * 2, bottom + 1


def test_split_with_dynamic_sizes():
    lower_and_check(
        DynamicSplit(), (torch.randn(3, 10, 4),), ({1: AUTO},),
        lambda h: (torch.randn(3, h, 4),), [4, 5, 10, 63, 64],
    )


class PadBoxes(torch.nn.Module):
    """new_zeros + repeat + cat: pad a variable number of boxes with a repeated template row."""

    def __init__(self):
        super().__init__()
        self.register_buffer("template", torch.tensor([[0.0, 0.0, 1.0, 1.0]]))

    def forward(self, boxes, scores):
        n = boxes.shape[0]
        extra = boxes.new_zeros(n, 1)
        rows = self.template.repeat(n, 1)
        return torch.cat([boxes + rows, extra, scores[:, None]], dim=1)


def test_new_zeros_repeat_cat():
    lower_and_check(
        PadBoxes(), (torch.randn(7, 4), torch.randn(7)), ({0: Dim("N", min=1, max=1000)}, {0: Dim("N", min=1, max=1000)}),
        lambda n: (torch.randn(n, 4), torch.randn(n)), [1, 2, 7, 999, 1000],
    )


class ViewFamily(torch.nn.Module):
    def forward(self, x):
        B, C, H, W = x.shape
        tokens = x.flatten(2).transpose(1, 2)            # (B, HW, C)
        back = tokens.transpose(1, 2).unflatten(2, (H, W))
        pooled = x.mean(1, keepdim=True).expand_as(x)
        rows = x.view(B, C, -1)[:, :, : H * W // 2]
        grid = x.reshape(B * C, H, W)
        return tokens, back + pooled, rows, grid


def test_view_unflatten_flatten_expand_as():
    lower_and_check(
        ViewFamily(), (torch.randn(2, 3, 6, 7),), ({0: Dim("B", min=1, max=8), 2: Dim("H", min=2, max=32),
                                                     3: Dim("W", min=2, max=32)},),
        lambda s: (torch.randn(s[0], 3, s[1], s[2]),), [(1, 2, 2), (2, 6, 7), (8, 32, 32), (3, 5, 31)],
    )


def test_through_torch_tensorrt_post_lowering():
    """The registered pass runs inside torch_tensorrt's own post-lowering pipeline, and the fake
    values torch_tensorrt recomputes afterwards stay precise (symbolic, no unbacked sizes)."""
    from torch_tensorrt.dynamo._settings import CompilationSettings
    from torch_tensorrt.dynamo.lowering import post_lowering

    dims = ({0: Dim("B", min=1, max=8), 2: Dim("H", min=2, max=32), 3: Dim("W", min=2, max=32)},)
    ep = export_decomposed(ViewFamily(), (torch.randn(2, 3, 6, 7),), dims)
    gm = post_lowering(ep.module(), CompilationSettings())
    assert not symint_leaks(gm)
    assert any(str(n.target) == "trt_dyn.reshape_dyn.default" for n in gm.graph.nodes)
    for node in gm.graph.nodes:
        value = node.meta.get("val")
        if isinstance(value, torch.Tensor):
            names = {str(s) for d in value.shape if isinstance(d, torch.SymInt) for s in d.node.expr.free_symbols}
            assert not any(n.startswith("u") for n in names), f"{node.name} lost its precise shape: {value.shape}"
    for b, h, w in ((1, 2, 2), (2, 6, 7), (8, 32, 32), (3, 5, 31)):
        x = torch.randn(b, 3, h, w)
        assert_same(gm(x), ViewFamily()(x))


class VitPositions(torch.nn.Module):
    """ViTDet position embeddings at a feature size other than pretraining: absolute (bicubic resize
    of the pretrained grid) and decomposed relative (linear resize + scaled relative coordinates)."""

    def __init__(self, pretrain: int = 6, channels: int = 4):
        super().__init__()
        self.pos_embed = torch.nn.Parameter(torch.randn(1, pretrain * pretrain + 1, channels))
        self.rel_pos_h = torch.nn.Parameter(torch.randn(2 * pretrain - 1, channels))
        self.rel_pos_w = torch.nn.Parameter(torch.randn(2 * pretrain - 1, channels))

    def forward(self, x):  # (B, H, W, C)
        from trt_dyn.models.vit import get_abs_pos, get_rel_pos

        H, W = x.shape[1], x.shape[2]
        torch._check(H >= 8)
        torch._check(H <= 40)
        torch._check(W >= 8)
        torch._check(W <= 40)
        return x + get_abs_pos(self.pos_embed, True, (H, W)), get_rel_pos(H, H, self.rel_pos_h), \
            get_rel_pos(W, W, self.rel_pos_w)


def test_vitdet_position_embeddings_bicubic_and_linear():
    lower_and_check(
        VitPositions(), (torch.randn(1, 10, 13, 4),), ({1: AUTO, 2: AUTO},), _hw_inputs(1, 4, channels_last=True),
        [(8, 8), (10, 13), (40, 40), (17, 9), (39, 24)],
    )


def test_patterns_build_through_torch_tensorrt():
    """The pass runs on the graph torch_tensorrt's own pipeline produces (after run_decompositions)
    and the trt_dyn converters turn every rewritten node into one engine."""
    from trt_dyn.build import build_engine

    cases = [
        (DinoReferencePoints(), (torch.randn(2, 4, 10, 13),),
         ({2: Dim("H", min=1, max=64), 3: Dim("W", min=1, max=64)},), ("arange_dyn", "reshape_dyn")),
        (TopKMin(), (torch.randn(2, 300),), ({1: AUTO},), ("topk_dyn", "min_dyn")),
    ]
    for model, example, dims, expected in cases:
        engine = build_engine(torch.export.export(model, example, dynamic_shapes=dims))
        names = " ".join(engine.network.get_layer(i).name for i in range(engine.network.num_layers))
        for op in expected:
            assert f"{op}_default" in names, (type(model).__name__, op)


class SymIntArithmetic(torch.nn.Module):
    """The SymInt/SymFloat producers export emits: truediv + floor, sym_float * float + ceil, sym_max,
    neg + mod, floordiv / sub + sym_min, numel, and a SymFloat in a Scalar slot."""

    def forward(self, x):
        H, W = x.shape
        torch._check(H >= 6)
        torch._check(H <= 64)
        torch._check(W >= 5)
        torch._check(W <= 64)
        return (torch.arange(math.floor(H / 3)), torch.zeros(math.ceil(W * 1.5)), torch.arange(max(H, W)),
                torch.arange((-H) % 5 + 2), x.reshape(-1)[: x.numel() - W], torch.arange(min(H // 2, W - 3)),
                x * (H / W))


def test_symint_arithmetic_producers():
    ep = lower_and_check(
        SymIntArithmetic(), (torch.randn(10, 13),), ({0: AUTO, 1: AUTO},), lambda s: (torch.randn(*s),),
        [(6, 5), (10, 13), (64, 64), (7, 63), (33, 5), (6, 64)],
    )
    targets = {str(n.target) for n in ep.graph.nodes}
    # ceil(W * 1.5) is exact integer arithmetic, ceil(3 * W / 2), not float32 math
    for op in ("floordiv_dyn", "ceildiv_dyn", "max_dyn", "neg_dyn", "mod_dyn", "min_dyn", "truediv_dyn"):
        assert f"trt_dyn.{op}.default" in targets, op


def _sum_int_trunc_numel(x):
    n = torch.sym_sum([x.shape[0], x.shape[1], 3])
    m = torch.sym_int(torch.sym_float(x.shape[0]) * 0.5)
    t = math.trunc(x.shape[1] / 2)
    return torch.arange(n), torch.zeros(m), torch.ones(t), x.reshape(x.numel())


def test_sym_sum_sym_int_trunc_numel_from_symbolic_trace():
    """Producers torch.export rarely emits, from make_fx's symbolic tracing (also a dynamic graph)."""
    from torch.fx.experimental.proxy_tensor import make_fx

    gm = make_fx(_sum_int_trunc_numel, tracing_mode="symbolic")(torch.randn(6, 9))
    trt_dyn.lower(gm)
    assert not symint_leaks(gm)
    targets = {str(n.target) for n in gm.graph.nodes}
    # sym_int(x0 * 0.5) and trunc(x1 / 2) are exact integer divisions (sizes are >= 0), not float32 math
    assert {"trt_dyn.floordiv_dyn.default", "trt_dyn.numel_dyn.default", "trt_dyn.add_dyn.default"} <= targets
    assert "trt_dyn.int_dyn.default" not in targets and "trt_dyn.float_dyn.default" not in targets
    for shape in ((6, 9), (2, 2), (11, 3), (1, 40)):
        x = torch.randn(shape)
        assert_same(gm(x), _sum_int_trunc_numel(x))
