"""``LAYER_EXECUTORS``: one function per ``trt.LayerType``, assembled from the family modules.

Each function is ``run_x(layer, inputs) -> list[torch.Tensor]``: ``layer`` already has its concrete
class (``layer.__class__ = trt.IShuffleLayer`` etc.), ``inputs`` are the layer's inputs in order
(None where an optional input is absent), the result is one tensor per layer output, of the dtype
the layer declares. A layer type missing here raises UnsupportedLayerError.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional

import torch

from ..._trt import trt
from . import attention, constant, control, conv, elementwise, gather, loops, matmul, reduce, resize, scale, shuffle

L = trt.LayerType

LayerExecutor = Callable[[object, List[Optional[torch.Tensor]]], List[torch.Tensor]]

LAYER_EXECUTORS: Dict[object, LayerExecutor] = {
    # element-wise
    L.ACTIVATION: elementwise.run_activation,
    L.CAST: elementwise.run_cast,
    L.ELEMENTWISE: elementwise.run_elementwise,
    L.IDENTITY: elementwise.run_identity,
    L.PARAMETRIC_RELU: elementwise.run_parametric_relu,
    L.SELECT: elementwise.run_select,
    L.UNARY: elementwise.run_unary,
    # data movement
    L.CONCATENATION: shuffle.run_concatenation,
    L.PADDING: shuffle.run_padding,
    L.REVERSE_SEQUENCE: shuffle.run_reverse_sequence,
    L.SHAPE: shuffle.run_shape,
    L.SHUFFLE: shuffle.run_shuffle,
    L.SLICE: shuffle.run_slice,
    L.SQUEEZE: shuffle.run_squeeze,
    L.UNSQUEEZE: shuffle.run_unsqueeze,
    # windows
    L.CONVOLUTION: conv.run_convolution,
    L.DECONVOLUTION: conv.run_deconvolution,
    L.POOLING: conv.run_pooling,
    # reductions
    L.CUMULATIVE: reduce.run_cumulative,
    L.NON_ZERO: reduce.run_non_zero,
    L.NORMALIZATION: reduce.run_normalization,
    L.REDUCE: reduce.run_reduce,
    L.SOFTMAX: reduce.run_softmax,
    L.TOPK: reduce.run_topk,
    # indexing
    L.GATHER: gather.run_gather,
    L.ONE_HOT: gather.run_one_hot,
    L.SCATTER: gather.run_scatter,
    # contractions
    L.ATTENTION_INPUT: attention.run_attention_input,
    L.ATTENTION_OUTPUT: attention.run_attention_output,
    L.EINSUM: matmul.run_einsum,
    L.MATRIX_MULTIPLY: matmul.run_matrix_multiply,
    # sampling
    L.GRID_SAMPLE: resize.run_grid_sample,
    L.RESIZE: resize.run_resize,
    L.SCALE: scale.run_scale,
    # generators
    L.CONSTANT: constant.run_constant,
    L.FILL: constant.run_fill,
    # control flow
    L.ASSERTION: control.run_assertion,
    L.CONDITION: control.run_condition,
    L.CONDITIONAL_INPUT: control.run_conditional_input,
    L.CONDITIONAL_OUTPUT: control.run_conditional_output,
    L.ITERATOR: loops.run_iterator,
    L.LOOP_OUTPUT: loops.run_loop_output,
    L.RECURRENCE: loops.run_recurrence,
    L.TRIP_LIMIT: loops.run_trip_limit,
}

__all__ = ["LAYER_EXECUTORS", "LayerExecutor"]
