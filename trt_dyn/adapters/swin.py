"""Getting torchvision's Swin Transformer through ``torch.export`` with the image height and width symbolic.

torchvision's ``shifted_window_attention`` decides in Python whether a block shifts its windows:
``if window_size >= pad_H: shift = 0`` (a feature map of one window does not shift). With H symbolic that is a
guard on the image size, and over a range of sizes it is taken both ways: with ``swin_t``'s 4x4 patches and
7x7 windows the last stage's height is ``ceil(ceil(ceil(H // 4 / 2) / 2) / 2)``, one window for H < 228 and two
above. torch.export keeps the branch of the traced example and records the guard as an input assertion that its
dim-constraint solver cannot express as a range (``AssertionError: Expected an equality constraint for s..``);
with a narrower range it exports, but the program is only valid on one side of the boundary.

:func:`swin_export_mode` replaces that function, while active, by :func:`shifted_window_attention_sized`, which
computes the same values with the branch turned into size arithmetic: the shift is
``shift * min(pad_H // window - 1, 1)`` (the configured shift when there are two windows or more, else 0).
Where the shift is 0 at run time:

* the cyclic shift is a roll by 0 (written as two slices and a concatenation, which take a symbolic amount);
* the attention mask regions are ``[0, pad - window)``, ``[pad - window, pad - shift)``, ``[pad - shift, pad)``
  (torchvision's ``(0, -window), (-window, -shift), (-shift, None)`` with the same bounds when the shift is
  positive). With shift 0 the last region is empty and the middle one is the last window row; upstream labels
  differently there (its ``(-0, None)`` is the whole dim) but the mask only compares labels of two positions of
  one window, and both labellings give every position of a window the same label along that axis. With both
  shifts 0 all labels in a window are equal and the mask adds 0.0, which is what skipping it computes.

Blocks configured without a shift (every other block) take torchvision's unshifted path, as upstream.
Only the plain Swin (V1) attention is replaced; Swin V2's ``shifted_window_attention`` calls with a
``logit_scale`` are passed to torchvision's original.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, List, Optional

import torch
import torch.fx.experimental._config
import torch.nn.functional as F
from torch import Tensor, nn

from .torchvision_detection import _patched

__all__ = ["swin_export_mode", "shifted_window_attention_sized", "ExportableSwin"]


def _roll_left(x: Tensor, amount, dim: int) -> Tensor:
    """``torch.roll(x, -amount, dim)`` for ``0 <= amount <= x.size(dim)`` with a symbolic ``amount``.

    As a gather of ``(i + amount) % size``: slicing at a symbolic amount that may be 0 makes torch.export guard
    on the pieces' sizes (contiguity checks), a gather's shape does not depend on the amount."""
    size = x.size(dim)
    return x.index_select(dim, (torch.arange(size, device=x.device) + amount) % size)


def _roll_right(x: Tensor, amount, dim: int) -> Tensor:
    """``torch.roll(x, amount, dim)`` for ``0 <= amount <= x.size(dim)``."""
    return _roll_left(x, x.size(dim) - amount, dim)


def _dense(x: Tensor) -> Tensor:
    """A contiguous copy. ``reshape`` of a permuted tensor and ``.contiguous()`` first ask whether the strides
    allow a view (true when a window count is 1, or when there was no padding): torch.export keeps that answer as
    a guard on the image size. A copy has the same values and asks nothing."""
    return x.clone(memory_format=torch.contiguous_format)


def _effective_shift(shift: int, window: int, padded: int):
    # torchvision: no shift when the (padded) feature map is a single window
    if shift == 0:
        return 0
    return shift * torch.sym_min(padded // window - 1, 1)


def _region_labels(padded, window: int, shift, like: Tensor) -> Tensor:
    """0 before the last window, 1 in it before ``padded - shift``, 2 from there (the shift regions along one
    axis), as ``like``'s dtype. Comparisons with an index, not slice assignments: a slice at a symbolic bound
    that may be empty has an unknown size for torch.export."""
    index = torch.arange(padded, device=like.device)
    return ((index >= padded - window).to(like.dtype) + (index >= padded - shift).to(like.dtype))


def shifted_window_attention_sized(
    input: Tensor,
    qkv_weight: Tensor,
    proj_weight: Tensor,
    relative_position_bias: Tensor,
    window_size: List[int],
    num_heads: int,
    shift_size: List[int],
    attention_dropout: float = 0.0,
    dropout: float = 0.0,
    qkv_bias: Optional[Tensor] = None,
    proj_bias: Optional[Tensor] = None,
    logit_scale: Optional[Tensor] = None,
    training: bool = True,
) -> Tensor:
    """torchvision's ``shifted_window_attention`` (Swin V1) with the "one window: no shift" branch computed from
    the sizes instead of decided in Python (see the module doc). Same arguments, same result."""
    if logit_scale is not None:
        return _torchvision_attention()(
            input, qkv_weight, proj_weight, relative_position_bias, window_size, num_heads, shift_size,
            attention_dropout, dropout, qkv_bias, proj_bias, logit_scale, training)
    # Size-oblivious reasoning for the contiguity checks of the window views and copies ("is this count 1?"):
    # they decide view-or-copy, never a value, and torch.export would otherwise keep each as a guard
    with torch.fx.experimental._config.patch(backed_size_oblivious=True):
        return _attention(input, qkv_weight, proj_weight, relative_position_bias, window_size, num_heads,
                          shift_size, attention_dropout, dropout, qkv_bias, proj_bias, training)


def _attention(input, qkv_weight, proj_weight, relative_position_bias, window_size, num_heads, shift_size,
               attention_dropout, dropout, qkv_bias, proj_bias, training):
    batch, height, width, channels = input.shape
    win_h, win_w = window_size
    window_area = win_h * win_w
    # pad to whole windows; written as rows * window (not torchvision's H + (window - H % window) % window, the
    # same number) so that the symbolic sizes are visibly multiples of the window: views into windows then
    # need no guards
    rows, cols = (height + win_h - 1) // win_h, (width + win_w - 1) // win_w
    padded_h, padded_w = rows * win_h, cols * win_w
    x = F.pad(input, (0, 0, 0, padded_w - width, 0, padded_h - height))
    windows = rows * cols
    shifted = any(shift_size)
    if shifted:
        shift_h = _effective_shift(shift_size[0], win_h, padded_h)
        shift_w = _effective_shift(shift_size[1], win_w, padded_w)
        x = _roll_left(_roll_left(x, shift_h, 1), shift_w, 2)

    x = _dense(x.view(batch, rows, win_h, cols, win_w, channels).permute(0, 1, 3, 2, 4, 5))
    x = x.view(batch * windows, window_area, channels)
    qkv = F.linear(x, qkv_weight, qkv_bias)
    qkv = qkv.reshape(batch * windows, window_area, 3, num_heads, channels // num_heads).permute(2, 0, 3, 1, 4)
    query, key, value = qkv[0], qkv[1], qkv[2]
    query = query * (channels // num_heads) ** -0.5
    attn = query.matmul(key.transpose(-2, -1)) + relative_position_bias

    if shifted:
        # label each position by its shift region (torchvision's count, 3 * row region + column region, assigned
        # by slices); positions of one window with different labels do not attend to each other
        mask = 3 * _region_labels(padded_h, win_h, shift_h, x)[:, None] + _region_labels(padded_w, win_w, shift_w, x)
        mask = _dense(mask.view(rows, win_h, cols, win_w).permute(0, 2, 1, 3)).view(windows, window_area)
        mask = mask.unsqueeze(1) - mask.unsqueeze(2)
        mask = mask.masked_fill(mask != 0, float(-100.0)).masked_fill(mask == 0, float(0.0))
        attn = attn.view(batch, windows, num_heads, window_area, window_area) + mask.unsqueeze(1).unsqueeze(0)
        attn = attn.view(-1, num_heads, window_area, window_area)

    attn = F.dropout(F.softmax(attn, dim=-1), p=attention_dropout, training=training)
    x = attn.matmul(value).transpose(1, 2).reshape(batch * windows, window_area, channels)
    x = F.dropout(F.linear(x, proj_weight, proj_bias), p=dropout, training=training)

    x = _dense(x.view(batch, rows, cols, win_h, win_w, channels).permute(0, 1, 3, 2, 4, 5))
    x = x.view(batch, padded_h, padded_w, channels)
    if shifted:
        x = _roll_right(_roll_right(x, shift_h, 1), shift_w, 2)
    return _dense(x[:, :height, :width, :])


_ORIGINAL = {}


def _torchvision_attention():
    """torchvision's own ``shifted_window_attention`` (also when called outside :func:`swin_export_mode`)."""
    from torchvision.models import swin_transformer

    return _ORIGINAL.setdefault("shifted_window_attention", swin_transformer.shifted_window_attention)


@contextlib.contextmanager
def swin_export_mode() -> Iterator[None]:
    """Replace torchvision's Swin (V1) shifted-window attention by :func:`shifted_window_attention_sized` while
    the block runs (every original restored on exit, also on error)."""
    from torchvision.models import swin_transformer

    _torchvision_attention()
    with _patched(swin_transformer, "shifted_window_attention", shifted_window_attention_sized):
        yield


class ExportableSwin(nn.Module):
    """A torchvision Swin Transformer whose every call runs inside :func:`swin_export_mode` (eager calls and the
    exported program compute the same thing, equal to the unwrapped model's result)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> Tensor:
        with swin_export_mode():
            return self.model(images)
