"""The executor-fidelity cases: one aten op each (two when the op needs a partner to be observable), with the
TensorRT layer types its network must contain when torch_tensorrt's OWN converters build it.

``tests/testing/test_fidelity_upstream.py`` runs every case under
:func:`trt_dyn.testing.harness.upstream_converters_only` (the CPU executor against eager, min/opt/max/odd sizes);
``tools/fidelity_table.py`` turns the cases and their networks into the table in ``docs/testing.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import torch
import torch.nn.functional as F

from .harness import run_converter_test


class Fn1(torch.nn.Module):
    def __init__(self, fn: Callable[..., Any]):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


class Fn2(Fn1):
    def forward(self, x, y):
        return self.fn(x, y)


class Fn3(Fn1):
    def forward(self, x, y, z):
        return self.fn(x, y, z)


def _module(fn: Callable[..., Any], arity: int) -> torch.nn.Module:
    return {1: Fn1, 2: Fn2, 3: Fn3}[arity](fn)


@dataclass
class Case:
    """One fidelity case: ``ops`` are the aten ops it exercises, ``layers`` the TensorRT layer types."""

    id: str
    ops: Sequence[str]
    layers: Sequence[str]
    make: Callable[[], torch.nn.Module]
    inputs: Callable[[], Sequence[torch.Tensor]]
    dynamic: Optional[Mapping[str, Mapping[int, Any]]] = None
    generators: Dict[str, Callable[..., torch.Tensor]] = field(default_factory=dict)
    tolerances: Dict[torch.dtype, Any] = field(default_factory=dict)
    marks: Sequence[Any] = ()


def randn(*shape: int, dtype: torch.dtype = torch.float32) -> Callable[[], torch.Tensor]:
    return lambda: torch.randn(*shape).to(dtype)


def fn_case(id, ops, layers, fn, shapes, dynamic=None, dtypes=None, **kwargs) -> Case:
    """A case for a plain function of tensors with the given example shapes (float32 unless dtypes)."""
    dtypes = dtypes or [torch.float32] * len(shapes)

    def inputs() -> List[torch.Tensor]:
        generator = torch.Generator().manual_seed(0)
        made = []
        for shape, dtype in zip(shapes, dtypes):
            if dtype.is_floating_point:
                made.append(torch.randn(shape, generator=generator).to(dtype))
            elif dtype == torch.bool:
                made.append(torch.rand(shape, generator=generator) < 0.5)
            else:
                made.append(torch.randint(0, 4, shape, generator=generator, dtype=dtype))
        return made

    return Case(id, ops, layers, lambda: _module(fn, len(shapes)), inputs, dynamic, **kwargs)


def positive(shape, dtype, generator):
    return (torch.rand(shape, generator=generator) * 4 + 0.1).to(dtype)


def unit_interval(shape, dtype, generator):
    return (torch.rand(shape, generator=generator) * 1.8 - 0.9).to(dtype)


def indices_below(limit_of: Callable[[Dict[str, Any]], int]):
    def generate(shape, dtype, generator, shapes):
        return torch.randint(0, limit_of(shapes), shape, generator=generator, dtype=dtype)

    return generate


def seeded(module_factory: Callable[[], torch.nn.Module]) -> Callable[[], torch.nn.Module]:
    def make() -> torch.nn.Module:
        torch.manual_seed(0)
        module = module_factory().eval()
        for buffer_name, buffer in module.named_buffers():
            if buffer_name.endswith("running_mean"):
                buffer.uniform_(-1, 1)
            elif buffer_name.endswith("running_var"):
                buffer.uniform_(0.5, 2.0)
        return module

    return make


def module_case(id, ops, layers, factory, shapes, dynamic=None, **kwargs) -> Case:
    def inputs() -> List[torch.Tensor]:
        generator = torch.Generator().manual_seed(0)
        return [torch.randn(shape, generator=generator) for shape in shapes]

    return Case(id, ops, layers, seeded(factory), inputs, dynamic, **kwargs)


B = {0: (1, 6)}  # a dynamic batch axis
X = {"x": B}


def int_range(low, high):
    return lambda shape, dtype, g: torch.randint(low, high, shape, generator=g, dtype=dtype)


def distinct_columns(count, width):
    """Per row, ``count`` distinct column indices below ``width`` (scatter targets must not collide)."""
    return lambda shape, dtype, g: torch.stack(
        [torch.randperm(width, generator=g)[:count] for _ in range(shape[0])]
    ).to(dtype)


# ``ops`` are the aten ops torch_tensorrt converts for the case (after its decompositions);
# ``layers`` the TensorRT layer types the case exists to exercise.
CASES: List[Case] = [
    # ---- Activation
    fn_case("relu", ["aten.relu"], ["ACTIVATION"], torch.relu, [(3, 5, 7)], X),
    fn_case("sigmoid", ["aten.sigmoid"], ["ACTIVATION"], torch.sigmoid, [(3, 5, 7)], X),
    fn_case("tanh", ["aten.tanh"], ["ACTIVATION"], torch.tanh, [(3, 5, 7)]),
    fn_case("leaky_relu", ["aten.leaky_relu"], ["ACTIVATION"], lambda x: F.leaky_relu(x, 0.2), [(3, 9)], X),
    fn_case("elu_selu", ["aten.elu"], ["ACTIVATION"], lambda x: F.elu(x, 0.7) + F.selu(x), [(3, 9)]),
    fn_case("softplus", ["aten.softplus"], ["ACTIVATION"], lambda x: F.softplus(x, beta=2.0), [(3, 9)], X),
    fn_case("hardsigmoid", ["aten.hardsigmoid"], ["ACTIVATION"], F.hardsigmoid, [(3, 9)]),
    fn_case("gelu", ["aten.gelu"], ["ACTIVATION"], F.gelu, [(3, 9)], X),
    # ---- Unary
    fn_case("exp", ["aten.exp"], ["UNARY"], torch.exp, [(2, 3, 5)], X),
    fn_case("log", ["aten.log"], ["UNARY"], torch.log, [(2, 3, 5)], X, generators={"x": positive}),
    fn_case("sqrt", ["aten.sqrt"], ["UNARY"], torch.sqrt, [(2, 3, 5)], generators={"x": positive}),
    fn_case("abs_neg", ["aten.abs", "aten.neg"], ["UNARY"], lambda x: -torch.abs(x), [(2, 3, 5)], X),
    fn_case("sin_cos", ["aten.sin", "aten.cos"], ["UNARY"], lambda x: torch.sin(x) * torch.cos(x), [(4, 6)], X),
    fn_case("floor_ceil", ["aten.floor", "aten.ceil"], ["UNARY"], lambda x: torch.floor(3 * x) + torch.ceil(2 * x),
            [(4, 6)]),
    fn_case("erf", ["aten.erf"], ["UNARY"], torch.erf, [(4, 6)], X),
    fn_case("asin_atan", ["aten.asin", "aten.atan"], ["UNARY"], lambda x: torch.asin(x) + torch.atan(x), [(4, 6)], X,
            generators={"x": unit_interval}),
    fn_case("logical_not", ["aten.logical_not"], ["UNARY"], torch.logical_not, [(4, 6)], X, dtypes=[torch.bool]),
    fn_case("round_sign", ["aten.round", "aten.sign"], ["UNARY"], lambda x: torch.round(3 * x) * torch.sign(x),
            [(4, 6)], X),
    fn_case("expm1_log1p", ["aten.expm1", "aten.log1p"], ["UNARY"], lambda x: torch.expm1(x) + torch.log1p(x),
            [(4, 6)], generators={"x": positive}),
    # ---- ElementWise
    fn_case("add_mul", ["aten.add", "aten.mul"], ["ELEMENTWISE"], lambda x, y: x * y + x, [(3, 4, 5), (4, 5)],
            {"x": B}),
    fn_case("sub_div", ["aten.sub", "aten.div"], ["ELEMENTWISE"], lambda x, y: (x - y) / y, [(3, 4), (3, 4)],
            generators={"y": positive}),
    fn_case("pow", ["aten.pow"], ["ELEMENTWISE"], lambda x, y: torch.pow(x, y), [(3, 4), (3, 4)],
            generators={"x": positive}),
    fn_case("maximum_minimum", ["aten.maximum", "aten.minimum"], ["ELEMENTWISE"],
            lambda x, y: torch.maximum(x, y) - torch.minimum(x, 0.5 * y), [(5, 4), (5, 4)], {"x": B, "y": B}),
    fn_case("comparisons", ["aten.eq", "aten.gt", "aten.lt", "aten.ne", "aten.ge", "aten.le"], ["ELEMENTWISE"],
            lambda x, y: torch.stack([x == y, x > y, x < y, x != y, x >= y, x <= y]), [(6, 3), (6, 3)],
            {"x": B, "y": B}, dtypes=[torch.int32, torch.int32]),
    fn_case("logical_and_or_xor", ["aten.logical_and", "aten.logical_or", "aten.bitwise_xor"], ["ELEMENTWISE"],
            lambda x, y: torch.logical_and(x, y) ^ torch.logical_or(x, y), [(6, 3), (6, 3)],
            dtypes=[torch.bool, torch.bool]),
    fn_case("floor_divide", ["aten.floor_divide"], ["ELEMENTWISE"], lambda x, y: torch.floor_divide(x, y),
            [(6, 3), (6, 3)], dtypes=[torch.int32, torch.int32], generators={"y": int_range(1, 5)}),
    fn_case("remainder", ["aten.remainder"], ["ELEMENTWISE"], lambda x: torch.remainder(x, 1.5), [(6, 3)], X),
    fn_case("clamp", ["aten.clamp"], ["ELEMENTWISE"], lambda x: torch.clamp(x, -0.3, 0.6), [(6, 3)], X),
    # ---- Cast
    fn_case("to_int", ["aten._to_copy"], ["CAST"], lambda x: (x * 3).to(torch.int32), [(3, 4)], X),
    fn_case("to_float", ["aten._to_copy"], ["CAST"], lambda x: x.to(torch.float32) * 0.5, [(3, 4)], X,
            dtypes=[torch.int32]),
    # ---- Concatenation, Unsqueeze
    fn_case("cat", ["aten.cat"], ["CONCATENATION"], lambda x, y: torch.cat([x, y, x], dim=1), [(2, 3, 4), (2, 5, 4)],
            {"x": B, "y": B}),
    fn_case("stack", ["aten.cat", "aten.unsqueeze"], ["CONCATENATION", "UNSQUEEZE"],
            lambda x, y: torch.stack([x, y], dim=-1), [(2, 3), (2, 3)]),
    # ---- Convolution, Deconvolution, Scale, Normalization
    module_case("conv2d", ["aten.convolution"], ["CONVOLUTION"],
                lambda: torch.nn.Conv2d(3, 5, 3, stride=2, padding=1), [(2, 3, 11, 9)], {"input": B}),
    module_case("conv2d_groups_dilation", ["aten.convolution"], ["CONVOLUTION"],
                lambda: torch.nn.Conv2d(4, 6, 3, padding=2, dilation=2, groups=2), [(1, 4, 10, 10)]),
    module_case("conv1d", ["aten.convolution"], ["CONVOLUTION", "UNSQUEEZE"], lambda: torch.nn.Conv1d(3, 4, 5, padding=2),
                [(2, 3, 17)], {"input": B}),
    module_case("conv_transpose2d", ["aten.convolution"], ["DECONVOLUTION"],
                lambda: torch.nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1), [(2, 4, 5, 6)],
                {"input": B}),
    module_case("batch_norm", ["aten._native_batch_norm_legit_no_training"], ["SCALE"],
                lambda: torch.nn.BatchNorm2d(5), [(2, 5, 4, 4)], {"input": B}),
    module_case("layer_norm", ["aten.native_layer_norm"], ["NORMALIZATION"], lambda: torch.nn.LayerNorm(8),
                [(3, 4, 8)], {"input": B}),
    module_case("group_norm", ["aten.native_group_norm"], ["NORMALIZATION"], lambda: torch.nn.GroupNorm(2, 6),
                [(2, 6, 3, 3)]),
    # ---- MatrixMultiply
    module_case("linear", ["aten.linear"], ["MATRIX_MULTIPLY"], lambda: torch.nn.Linear(6, 4), [(5, 6)], {"input": B}),
    fn_case("matmul", ["aten.matmul"], ["MATRIX_MULTIPLY"], torch.matmul, [(2, 3, 4), (4, 5)], {"x": B}),
    fn_case("bmm_einsum", ["aten.bmm"], ["MATRIX_MULTIPLY"], lambda x, y: torch.einsum("bij,bjk->bik", x, y),
            [(2, 3, 4), (2, 4, 5)]),
    fn_case("mm_t", ["aten.mm", "aten.permute"], ["MATRIX_MULTIPLY", "SHUFFLE"], lambda x, y: torch.mm(x, y.t()),
            [(3, 4), (5, 4)], {"x": {0: (1, 6)}}),
    fn_case("addmm", ["aten.addmm"], ["MATRIX_MULTIPLY"], lambda x, y, z: torch.addmm(z, x, y, beta=0.5, alpha=2.0),
            [(3, 4), (4, 5), (3, 5)]),
    # ---- Loop (cumsum is a TensorRT loop upstream: Iterator, Recurrence, TripLimit, LoopOutput)
    fn_case("cumsum", ["aten.cumsum"], ["ITERATOR", "RECURRENCE", "TRIP_LIMIT", "LOOP_OUTPUT"],
            lambda x: torch.cumsum(x, dim=1), [(3, 7)], X),
    # ---- Pooling
    fn_case("max_pool2d", ["aten.max_pool2d"], ["POOLING"], lambda x: F.max_pool2d(x, 3, 2, 1), [(2, 3, 9, 8)], X),
    fn_case("avg_pool2d", ["aten.avg_pool2d"], ["POOLING"], lambda x: F.avg_pool2d(x, 2, 2), [(2, 3, 8, 6)], X),
    fn_case("adaptive_avg_pool2d", ["aten._adaptive_avg_pool2d"], ["POOLING"],
            lambda x: F.adaptive_avg_pool2d(x, (2, 3)), [(2, 3, 8, 9)], X),
    # ---- Reduce
    fn_case("sum_mean", ["aten.sum", "aten.mean"], ["REDUCE"], lambda x: x.sum(1) + x.mean(1), [(3, 5, 4)], X),
    fn_case("amax_amin", ["aten.amax", "aten.amin"], ["REDUCE"], lambda x: x.amax(-1) - x.amin(-1), [(3, 5, 4)], X),
    fn_case("prod", ["aten.prod"], ["REDUCE"], lambda x: x.prod(-1), [(3, 4)], X),
    fn_case("var", ["aten.mean", "aten.sum"], ["REDUCE"], lambda x: x.var(-1), [(3, 6)], X),
    fn_case("argmin", ["aten.argmin"], ["TOPK"], lambda x: torch.argmin(x, dim=0), [(3, 6)], X),
    # ---- SoftMax
    fn_case("softmax", ["aten._softmax"], ["SOFTMAX"], lambda x: torch.softmax(x, -1), [(3, 7)], X),
    fn_case("log_softmax", ["aten._softmax", "aten.log"], ["SOFTMAX"], lambda x: torch.log_softmax(x, 1), [(3, 7)], X),
    # ---- Shuffle / Shape
    fn_case("permute", ["aten.permute"], ["SHUFFLE"], lambda x: x.permute(2, 0, 1), [(2, 3, 4)], X),
    fn_case("reshape_dynamic", ["aten._reshape_copy", "aten.sym_size"], ["SHUFFLE", "SHAPE", "GATHER"],
            lambda x: x.reshape(x.shape[0], -1), [(2, 3, 4)], X),
    fn_case("unsqueeze_squeeze", ["aten.unsqueeze", "aten.squeeze"], ["UNSQUEEZE", "SHUFFLE"],
            lambda x: x.unsqueeze(1).squeeze(2) + 1, [(3, 1, 4)], X),
    fn_case("pixel_shuffle", ["aten.pixel_shuffle"], ["SHUFFLE"], lambda x: F.pixel_shuffle(x, 2), [(1, 8, 3, 5)]),
    # ---- Slice
    fn_case("slice", ["aten.slice"], ["SLICE"], lambda x: x[:, 1:5:2], [(3, 7)], X),
    fn_case("split", ["aten.split_with_sizes"], ["SLICE"], lambda x: torch.split(x, [2, 5], dim=1), [(3, 7)], X),
    fn_case("expand", ["aten.expand"], ["SLICE"], lambda x: x.expand(3, 4, 5) + 0, [(3, 1, 5)]),
    fn_case("flip", ["aten.flip"], ["SLICE"], lambda x: torch.flip(x, [1]), [(3, 6)], X),
    fn_case("roll", ["aten.roll"], ["SLICE"], lambda x: torch.roll(x, 2, 1), [(3, 6)], X),
    fn_case("constant_pad", ["aten.constant_pad_nd"], ["SLICE"], lambda x: F.pad(x, (1, 2, 0, 1), value=0.5),
            [(2, 3, 4)], X),
    fn_case("reflection_pad", ["aten.reflection_pad2d"], ["SLICE"], lambda x: F.pad(x, (1, 1, 2, 0), mode="reflect"),
            [(1, 2, 5, 5)]),
    # ---- Gather
    fn_case("select", ["aten.select"], ["GATHER"], lambda x: x[:, 2], [(3, 5)], X),
    fn_case("index_select", ["aten.index_select"], ["GATHER"], lambda x, i: torch.index_select(x, 1, i),
            [(3, 6), (4,)], {"x": B}, dtypes=[torch.float32, torch.int64],
            generators={"y": indices_below(lambda s: s["x"][1])}),
    fn_case("gather", ["aten.gather"], ["GATHER"], lambda x, i: torch.gather(x, 1, i), [(3, 6), (3, 4)],
            dtypes=[torch.float32, torch.int64], generators={"y": indices_below(lambda s: s["x"][1])}),
    fn_case("embedding", ["aten.embedding"], ["GATHER"], lambda w, i: F.embedding(i, w), [(10, 4), (3, 5)],
            {"y": B}, dtypes=[torch.float32, torch.int64], generators={"y": indices_below(lambda s: s["x"][0])}),
    fn_case("index_tensor", ["aten.index"], ["GATHER"], lambda x, i: x[i], [(6, 3), (4,)],
            dtypes=[torch.float32, torch.int64], generators={"y": indices_below(lambda s: s["x"][0])}),
    # ---- Select
    fn_case("where", ["aten.where"], ["SELECT"], lambda c, x, y: torch.where(c, x, y), [(3, 4), (3, 4), (3, 4)],
            {"x": B, "y": B, "z": B}, dtypes=[torch.bool, torch.float32, torch.float32]),
    # ---- Fill
    fn_case("arange_dynamic", ["aten.arange", "aten.sym_size"], ["FILL"],
            lambda x: x + torch.arange(x.shape[1], dtype=torch.float32), [(2, 6)], {"x": {1: (1, 9)}}),
    fn_case("full_like", ["aten.full"], ["FILL"], lambda x: torch.full_like(x, 2.5) * x, [(2, 6)], X),
    # ---- Scatter
    fn_case("scatter", ["aten.scatter"], ["SCATTER"], lambda x, i, s: torch.scatter(x, 1, i, s),
            [(3, 5), (3, 2), (3, 2)], dtypes=[torch.float32, torch.int64, torch.float32],
            generators={"y": distinct_columns(2, 5)}),
    fn_case("index_put", ["aten.index_put"], ["SCATTER"], lambda x, i, v: torch.index_put(x, (i,), v),
            [(6, 3), (2,), (2, 3)], dtypes=[torch.float32, torch.int64, torch.float32],
            generators={"y": lambda shape, dtype, g: torch.randperm(6, generator=g)[:2].to(dtype)}),
    # ---- TopK
    fn_case("topk", ["aten.topk"], ["TOPK"], lambda x: torch.topk(x, 3, dim=-1), [(4, 9)], X),
    fn_case("argmax", ["aten.argmax"], ["TOPK"], lambda x: torch.argmax(x, dim=1), [(4, 9)], X),
    fn_case("sort", ["aten.sort"], ["TOPK"], lambda x: torch.sort(x, dim=-1, descending=True), [(4, 9)]),
    # ---- ParametricReLU, Constant
    module_case("prelu", ["aten._prelu_kernel"], ["PARAMETRIC_RELU", "CONSTANT"], lambda: torch.nn.PReLU(3, 0.1),
                [(2, 3, 5)], {"input": B}),
    # ---- Resize
    fn_case("upsample_nearest", ["aten.upsample_nearest2d"], ["RESIZE"],
            lambda x: F.interpolate(x, scale_factor=2, mode="nearest"), [(2, 3, 4, 5)], X),
    fn_case("upsample_bilinear", ["aten.upsample_bilinear2d"], ["RESIZE"],
            lambda x: F.interpolate(x, size=(7, 9), mode="bilinear", align_corners=False), [(2, 3, 4, 5)], X),
    # ---- GridSample
    fn_case("grid_sample", ["aten.grid_sampler_2d"], ["GRID_SAMPLE"],
            lambda x, g: F.grid_sample(x, g, mode="bilinear", padding_mode="zeros", align_corners=False),
            [(2, 3, 6, 7), (2, 4, 5, 2)], {"x": B, "y": B}, generators={"y": unit_interval}),
    # ---- reduced precision (fp16 / bf16 inputs; the harness applies those dtypes' tolerances)
    fn_case("add_mul_fp16", ["aten.add", "aten.mul"], ["ELEMENTWISE"], lambda x, y: x * y + x, [(3, 4, 5), (4, 5)],
            {"x": B}, dtypes=[torch.float16, torch.float16]),
    fn_case("softmax_fp16", ["aten._softmax"], ["SOFTMAX"], lambda x: torch.softmax(x, -1), [(3, 7)], X,
            dtypes=[torch.float16]),
    fn_case("bmm_fp16", ["aten.bmm"], ["MATRIX_MULTIPLY"], torch.bmm, [(2, 3, 4), (2, 4, 5)],
            dtypes=[torch.float16, torch.float16]),
    fn_case("mean_bf16", ["aten.mean"], ["REDUCE"], lambda x: x.mean(-1), [(3, 8)], X, dtypes=[torch.bfloat16]),
    fn_case("relu_bf16", ["aten.relu"], ["ACTIVATION"], torch.relu, [(3, 8)], X, dtypes=[torch.bfloat16]),
    # ---- If-conditional (embedding_bag with runtime offsets)
    fn_case("embedding_bag", ["aten._embedding_bag"], ["CONDITION", "CONDITIONAL_OUTPUT"],
            lambda w, i, o: torch.ops.aten._embedding_bag.default(w, i, o, False, 0)[0], [(10, 3), (8,), (3,)],
            dtypes=[torch.float32, torch.int64, torch.int64],
            generators={"y": indices_below(lambda s: s["x"][0]),
                        "z": lambda shape, dtype, g: torch.tensor([0, 3, 5], dtype=dtype)}),
]


def run_case(case: Case):
    module = case.make().eval()
    result = run_converter_test(
        module,
        case.inputs(),
        case.dynamic,
        input_generators=case.generators,
        tolerances=case.tolerances,
    )
    trt_dyn_ops = [op for op in result.converted_ops if "trt_dyn" in op]
    assert not trt_dyn_ops, f"{case.id}: trt_dyn ops in the converted graph: {trt_dyn_ops}"
    return result
