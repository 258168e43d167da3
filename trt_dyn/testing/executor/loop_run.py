"""Running an ILoop as a unit: trip limits, recurrences, iterators, per-iteration bodies, outputs.

A mixin of :class:`~.core.NetworkExecutor`: it plans each iteration with the executor's ``_ensure``
and stores values with its ``_store``; the loop's structure comes from :mod:`.structure`.
"""

from __future__ import annotations

from typing import Dict, List, Optional

import torch

from ..._trt import trt
from .dtypes import TRT_TO_TORCH
from .errors import LayerExecutionError
from .structure import _Loop

L = trt.LayerType

#: a WHILE loop that runs this many iterations is taken to be non-terminating
MAX_WHILE_ITERATIONS = 1_000_000


class LoopRunner:
    """Runs one ILoop to completion (a mixin of :class:`~.core.NetworkExecutor`)."""

    def _run_loop(self, info: _Loop) -> None:
        """Run one ILoop to completion and store all of its outputs."""
        from .registry import LAYER_EXECUTORS

        layers = self.layers
        first = layers[(info.outputs or info.recurrences or info.iterators)[0]]
        if len(info.count_limits) > 1 or len(info.while_limits) > 1:
            raise LayerExecutionError(first, "a loop has at most one COUNT and one WHILE trip limit")
        if not info.count_limits and not info.while_limits:
            raise LayerExecutionError(first, "a loop needs a trip limit")
        trip_count: Optional[int] = None
        if info.count_limits:
            limit = layers[info.count_limits[0]]
            value = self.values[limit.get_input(0).name]
            LAYER_EXECUTORS[L.TRIP_LIMIT](limit, [value])
            trip_count = int(value)
        while_limit = layers[info.while_limits[0]] if info.while_limits else None
        state: Dict[int, torch.Tensor] = {}
        for r in info.recurrences:
            layer = layers[r]
            if layer.get_input(1) is None:
                raise LayerExecutionError(layer, "recurrence without a next value (set_input(1, ...))")
            state[r] = self.values[layer.get_input(0).name]
        # what each iteration must compute: loop-output inputs, assertions, inner loops with
        # assertions; and the recurrences' next values
        targets: List[int] = list(info.assertions)
        for o in info.outputs:
            source = self.producer.get(layers[o].get_input(0).name, (None,))[0]
            if source in info.body:
                targets.append(source)
        # an inner loop runs (and checks its assertions) every iteration, even if nothing reads it
        targets.extend(child.outputs[0] for child in info.children if child.assertions and child.outputs)
        next_source: Dict[int, Optional[int]] = {}
        for r in info.recurrences:
            source = self.producer.get(layers[r].get_input(1).name, (None,))[0]
            next_source[r] = source if source in info.body else None
        recurrence_output = {layers[r].get_output(0).name: r for r in info.recurrences}
        # After the final iteration a recurrence's next value is observable only through a
        # LAST_VALUE output, so it is computed only then. (torch_tensorrt's embedding_bag loop
        # gathers offsets[i + 1] as its next value, out of range on the final iteration, unread.)
        read_after_loop = {
            recurrence_output[layers[o].get_input(0).name]
            for o in info.outputs
            if layers[o].kind == trt.LoopOutput.LAST_VALUE and layers[o].get_input(0).name in recurrence_output
        }
        collected: Dict[int, List[torch.Tensor]] = {o: [] for o in info.outputs}
        iteration = 0
        per_iteration = info.body | set(info.recurrences) | set(info.iterators)
        while trip_count is None or iteration < trip_count:
            if trip_count is None and iteration >= MAX_WHILE_ITERATIONS:
                raise LayerExecutionError(first, f"WHILE loop still running after {iteration} iterations")
            for r in info.recurrences:
                self._store(r, LAYER_EXECUTORS[L.RECURRENCE](layers[r], [state[r], None]))
            for it in info.iterators:
                layer = layers[it]
                source = self.values[layer.get_input(0).name]
                count = None if trip_count is None else torch.tensor(trip_count)
                self._store(it, LAYER_EXECUTORS[L.ITERATOR](layer, [source, torch.tensor(iteration), count]))
            if while_limit is not None:
                name = while_limit.get_input(0).name
                source = self.producer.get(name, (None,))[0]
                if source in info.body:
                    self._ensure([source])
                condition = self.values[name]
                LAYER_EXECUTORS[L.TRIP_LIMIT](while_limit, [condition])
                if not bool(condition):
                    self._clear(per_iteration)
                    break
            final = trip_count is not None and iteration + 1 == trip_count
            carried = [r for r in info.recurrences if not final or r in read_after_loop]
            self._ensure(targets + [next_source[r] for r in carried if next_source[r] is not None])
            for o in info.outputs:
                collected[o].append(self.values[layers[o].get_input(0).name])
            state = {r: self.values[layers[r].get_input(1).name] for r in carried}
            self._clear(per_iteration)
            iteration += 1
        for o in info.outputs:
            layer = layers[o]
            name = layer.get_input(0).name
            if layer.kind == trt.LoopOutput.LAST_VALUE:
                if name not in recurrence_output:
                    # TensorRT refuses this network ("must be the output from an IRecurrenceLayer")
                    raise LayerExecutionError(layer, "LAST_VALUE input must be a recurrence output of the same loop")
                # the last value of a recurrence is its value after the final iteration
                value = state[recurrence_output[name]]
            elif collected[o]:
                value = torch.stack(collected[o])
            else:
                shape = tuple(int(d) for d in layer.get_input(0).shape)
                if any(d < 0 for d in shape):
                    raise LayerExecutionError(layer, "zero iterations and a dynamic per-iteration shape")
                value = torch.empty((0, *shape), dtype=TRT_TO_TORCH[layer.get_input(0).dtype])
            length = layer.get_input(1)
            inputs = [value, None if length is None else self.values[length.name]]
            self._store(o, LAYER_EXECUTORS[L.LOOP_OUTPUT](layer, inputs))
