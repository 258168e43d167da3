"""Which Python class describes each ``trt.LayerType``.

``INetworkDefinition.get_layer`` returns the ``ILayer`` base class; the attributes of a layer type
(a slice's start, a loop output's kind, ...) are read after giving the object its concrete class.
"""

from __future__ import annotations

from typing import Any, Dict

from ..._trt import trt
from .common import layer_type

L = trt.LayerType

#: LayerType -> the Python class whose attributes describe it (``layer.__class__ = ...``)
LAYER_CLASSES: Dict[Any, Any] = {
    L.ACTIVATION: trt.IActivationLayer,
    L.ATTENTION_INPUT: trt.IAttentionInputLayer,
    L.ATTENTION_OUTPUT: trt.IAttentionOutputLayer,
    L.ASSERTION: trt.IAssertionLayer,
    L.CAST: trt.ICastLayer,
    L.CONCATENATION: trt.IConcatenationLayer,
    L.CONDITION: trt.IConditionLayer,
    L.CONDITIONAL_INPUT: trt.IIfConditionalInputLayer,
    L.CONDITIONAL_OUTPUT: trt.IIfConditionalOutputLayer,
    L.CONSTANT: trt.IConstantLayer,
    L.CONVOLUTION: trt.IConvolutionLayer,
    L.CUMULATIVE: trt.ICumulativeLayer,
    L.DECONVOLUTION: trt.IDeconvolutionLayer,
    L.EINSUM: trt.IEinsumLayer,
    L.ELEMENTWISE: trt.IElementWiseLayer,
    L.FILL: trt.IFillLayer,
    L.GATHER: trt.IGatherLayer,
    L.GRID_SAMPLE: trt.IGridSampleLayer,
    L.IDENTITY: trt.IIdentityLayer,
    L.ITERATOR: trt.IIteratorLayer,
    L.LOOP_OUTPUT: trt.ILoopOutputLayer,
    L.LRN: trt.ILRNLayer,
    L.MATRIX_MULTIPLY: trt.IMatrixMultiplyLayer,
    L.NON_ZERO: trt.INonZeroLayer,
    L.NORMALIZATION: trt.INormalizationLayer,
    L.ONE_HOT: trt.IOneHotLayer,
    L.PADDING: trt.IPaddingLayer,
    L.PARAMETRIC_RELU: trt.IParametricReLULayer,
    L.POOLING: trt.IPoolingLayer,
    L.RECURRENCE: trt.IRecurrenceLayer,
    L.REDUCE: trt.IReduceLayer,
    L.RESIZE: trt.IResizeLayer,
    L.REVERSE_SEQUENCE: trt.IReverseSequenceLayer,
    L.SCALE: trt.IScaleLayer,
    L.SCATTER: trt.IScatterLayer,
    L.SELECT: trt.ISelectLayer,
    L.SHAPE: trt.IShapeLayer,
    L.SHUFFLE: trt.IShuffleLayer,
    L.SLICE: trt.ISliceLayer,
    L.SOFTMAX: trt.ISoftMaxLayer,
    L.SQUEEZE: trt.ISqueezeLayer,
    L.TOPK: trt.ITopKLayer,
    L.TRIP_LIMIT: trt.ITripLimitLayer,
    L.UNARY: trt.IUnaryLayer,
    L.UNSQUEEZE: trt.IUnsqueezeLayer,
}


def cast_layer(layer: Any) -> Any:
    """Give ``layer`` its concrete class so its attributes can be read (idempotent)."""
    cls = LAYER_CLASSES.get(layer_type(layer))
    if cls is not None and layer.__class__ is not cls:
        layer.__class__ = cls
    return layer


__all__ = ["LAYER_CLASSES", "cast_layer"]
