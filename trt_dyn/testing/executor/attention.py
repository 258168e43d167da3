"""Attention: the IAttention scope TensorRT builds for scaled dot-product attention
(``INetworkDefinition.add_attention_v2``; torch_tensorrt's SDPA converter emits it).

An IAttention appears in a network as an ATTENTION_INPUT layer (inputs: query, key, value and the
optional mask) whose output feeds an ATTENTION_OUTPUT layer; the attention attributes live on the
shared ``layer.attention`` object. The input layer computes the whole attention, the output layer
passes it on. Semantics (TensorRT operator page and IAttention API reference):

* ``scores = query @ key^T`` (no scaling inside: callers scale the query), per batch and head;
  with fewer key/value heads than query heads, query head ``h`` reads key/value head
  ``h // (heads_q / heads_kv)`` (grouped-query attention);
* a bool mask keeps the positions where it is True, a float mask is added to the scores; the mask
  broadcasts over batch and heads; causal UPPER_LEFT keeps key ``j <= i``, LOWER_RIGHT keeps
  ``j <= i + (s_kv - s_q)``;
* SOFTMAX over the key axis, then ``@ value``.

Float16/bfloat16 are computed in float32 and rounded to the declared type.
"""

from __future__ import annotations

from typing import Any, List, Optional

import torch

from ..._trt import trt
from .common import fail, out_dtype, unsupported
from .dtypes import FLOAT_TYPES

CK = trt.CausalMaskKind
Inputs = List[Optional[torch.Tensor]]


def _refuse_unmodelled(layer: Any, attention: Any, inputs: Inputs) -> None:
    if attention.query_form != trt.AttentionIOForm.PADDED_BHND or attention.key_value_form != trt.AttentionIOForm.PADDED_BHND:
        raise unsupported(layer, attention.query_form, "packed (PACKED_NHD) attention layouts")
    if attention.key_value_lengths is not None or attention.query_lengths is not None:
        raise unsupported(layer, None, "per-batch query / key-value lengths")
    if attention.normalization_quantize_scale is not None:
        raise unsupported(layer, None, "quantized (FP8/INT8) attention normalization")
    if attention.num_ranks != 1:
        raise unsupported(layer, None, f"multi-device attention (num_ranks={attention.num_ranks})")
    if len(inputs) > 4 and any(extra is not None for extra in inputs[4:]):
        raise unsupported(layer, None, f"{len(inputs)} attention inputs (query, key, value, mask are modelled)")


def _causal_keep(kind: Any, s_q: int, s_kv: int) -> Optional[torch.Tensor]:
    if kind == CK.NONE:
        return None
    rows = torch.arange(s_q).unsqueeze(1)
    cols = torch.arange(s_kv).unsqueeze(0)
    shift = 0 if kind == CK.UPPER_LEFT else s_kv - s_q
    return cols <= rows + shift


def run_attention_input(layer: trt.IAttentionInputLayer, inputs: Inputs) -> List[torch.Tensor]:
    attention = layer.attention
    _refuse_unmodelled(layer, attention, inputs)
    query, key, value = inputs[0], inputs[1], inputs[2]
    mask = inputs[3] if len(inputs) > 3 else None
    if any(t.dtype not in FLOAT_TYPES for t in (query, key, value)):
        raise fail(layer, f"query/key/value must be float, got {query.dtype}/{key.dtype}/{value.dtype}")
    if query.dim() != 4 or key.shape != value.shape or key.dim() != 4:
        raise fail(layer, f"query {tuple(query.shape)}, key {tuple(key.shape)}, value {tuple(value.shape)} "
                          "are not [b, heads, tokens, head_dim] with key and value of one shape")
    b, heads_q, s_q, dim = query.shape
    _, heads_kv, s_kv, dim_kv = key.shape
    if key.shape[0] != b or dim_kv != dim or heads_kv == 0 or heads_q % heads_kv:
        raise fail(layer, f"query {tuple(query.shape)} and key/value {tuple(key.shape)}: batch and head_dim must "
                          "match and the query heads must be a multiple of the key/value heads")
    causal = attention.causal_kind
    if mask is not None and causal != CK.NONE:
        raise fail(layer, "an attention cannot have both a mask and a causal kind")
    norm = attention.norm_op
    if norm not in (trt.AttentionNormalizationOp.SOFTMAX, trt.AttentionNormalizationOp.NONE):
        raise unsupported(layer, norm, "normalization operation")
    group = heads_q // heads_kv
    q = query.float()
    k = key.float().repeat_interleave(group, dim=1)
    v = value.float().repeat_interleave(group, dim=1)
    scores = q @ k.transpose(-1, -2)  # [b, heads_q, s_q, s_kv]
    keep = _causal_keep(causal, s_q, s_kv)
    if mask is not None:
        if mask.dim() != 4 or tuple(mask.shape[2:]) != (s_q, s_kv):
            raise fail(layer, f"mask {tuple(mask.shape)} is not [a0, a1, {s_q}, {s_kv}]")
        try:
            torch.broadcast_shapes(tuple(mask.shape), tuple(scores.shape))
        except RuntimeError:
            raise fail(layer, f"mask {tuple(mask.shape)} does not broadcast to the scores {tuple(scores.shape)}") from None
        if mask.dtype == torch.bool:
            keep = mask
        elif mask.dtype != query.dtype:
            raise fail(layer, f"a float mask must have the query's type {query.dtype}, got {mask.dtype}")
        else:
            scores = scores + mask.float()
    if keep is not None:
        if norm != trt.AttentionNormalizationOp.SOFTMAX:
            raise unsupported(layer, norm, "a bool or causal mask without SOFTMAX (what masked scores become is undocumented)")
        keep = keep.expand_as(scores)
        if not bool(keep.any(dim=-1).all()):
            raise unsupported(
                layer, causal if mask is None else None,
                "a query row with every key masked out (TensorRT does not document the result; PyTorch gives NaN)",
            )
        scores = scores.masked_fill(~keep, float("-inf"))
    weights = torch.softmax(scores, dim=-1) if norm == trt.AttentionNormalizationOp.SOFTMAX else scores
    return [(weights @ v).to(out_dtype(layer))]


def run_attention_output(layer: trt.IAttentionOutputLayer, inputs: Inputs) -> List[torch.Tensor]:
    return [inputs[0].to(out_dtype(layer))]


__all__ = ["run_attention_input", "run_attention_output"]
