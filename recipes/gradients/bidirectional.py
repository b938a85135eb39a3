"""Bidirectional: the class needs the first and the last symbol; one direction against both.

Read left to right, the last symbol sits next to the output but the first is T steps back; the
backward direction of a Bidirectional layer ends on the first symbol, so each end is one step from
the output in one of the two directions. Knowing one end only gives accuracy 1/2 (chance 1/4).
"""
import time

import keras

from . import data, loop
from .model import build_classifier
from .vanishing import fit


def run(cells, *, length, units, steps, batch_size, lr, gate_init, val_size, seed):
    print(f"\n4. bidirectional: class = (first symbol, last symbol) of T={length}; {units} units per direction; "
          f"chance {1 / data.CLASSES:.3f}, one end only 0.500")
    results = {}
    x_val, y_val = data.both_ends(data.generator(seed, length, data.VALIDATION), val_size, length)
    for cell in cells:
        results[cell] = {}
        for bidirectional in (False, True):
            started = time.perf_counter()
            keras.utils.set_random_seed(seed)
            model = build_classifier(cell, length, units, bidirectional=bidirectional, gate_init=gate_init,
                                     seed=seed)
            taken, _ = fit(model, keras.optimizers.Adam(lr), data.both_ends, length, steps=steps,
                           batch_size=batch_size, seed=seed)
            name = "bidirectional" if bidirectional else "one direction"
            results[cell][name] = {"val_accuracy": loop.accuracy(model, x_val, y_val), "steps": taken,
                                   "seconds": time.perf_counter() - started}
            print(f"   {cell:<4} {name:<14} validation accuracy {results[cell][name]['val_accuracy']:.3f}  "
                  f"{taken:>4} steps  ({results[cell][name]['seconds']:.0f} s)", flush=True)
    return {"task": "both_ends", "length": length, "units": units, "chance": 1 / data.CLASSES,
            "one_end_only": 0.5, "cells": results}
