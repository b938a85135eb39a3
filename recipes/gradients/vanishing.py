"""Vanishing gradients: the class is the first symbol of a long sequence; SimpleRNN, LSTM and GRU compared.

For each cell and length: ||dL/dx_t|| against the distance from the output at initialisation,
training on fresh batches until solved (or --steps), then ||dL/dx_t|| again and the accuracy on a
held-out set drawn from another seed. Chance is 1/4: without the first symbol nothing predicts the class.
"""
import time

import keras
import numpy as np

from . import data, loop
from .model import build_classifier

SOLVED = 0.99  # a model stops training once its last WINDOW fresh batches average this accuracy
WINDOW = 50


def fit(model, optimizer, task, length, *, steps, batch_size, seed):
    """Train on fresh batches of `task`; returns (steps taken, the losses)."""
    step = loop.training_step(model, optimizer)
    batches = data.generator(seed, length, data.TRAIN)
    losses, accuracies = [], []
    for taken in range(1, steps + 1):
        loss, batch_accuracy, _, _ = step(*task(batches, batch_size, length))
        losses.append(float(loss))
        accuracies.append(float(batch_accuracy))
        if taken >= WINDOW and np.mean(accuracies[-WINDOW:]) >= SOLVED:
            break
    return taken, losses


def ratio(norms):
    """||dL/dx_1|| / ||dL/dx_T||: how much of the output's gradient reaches the first step."""
    return float(norms[0] / norms[-1]) if norms[-1] > 0 else float("nan")


def run(cells, lengths, *, units, steps, batch_size, lr, gate_init, val_size, seed):
    """{cell: {length: results}}, printing a line per trained model."""
    print(f"\n2. vanishing gradients: the class is the first of T one-hot symbols, the rest noise; "
          f"{units} units, Adam lr {lr}, at most {steps} steps of {batch_size}, gates: {gate_init}")
    print(f"   validation: {val_size} sequences from another seed; chance = 1/{data.CLASSES} = "
          f"{1 / data.CLASSES:.3f} (the best guess without the first symbol)")
    results = {}
    for cell in cells:
        results[cell] = {}
        for length in lengths:
            started = time.perf_counter()
            keras.utils.set_random_seed(seed)  # the same start for a (cell, length) whatever ran before
            model = build_classifier(cell, length, units, gate_init=gate_init, seed=seed)
            x_val, y_val = data.first_symbol(data.generator(seed, length, data.VALIDATION), val_size, length)
            at_init = loop.input_gradient_norms(model, x_val, y_val)  # (length,)
            taken, losses = fit(model, keras.optimizers.Adam(lr), data.first_symbol, length,
                                steps=steps, batch_size=batch_size, seed=seed)
            trained = loop.input_gradient_norms(model, x_val, y_val)
            found = {"val_accuracy": loop.accuracy(model, x_val, y_val), "steps": taken,
                     "final_loss": losses[-1], "ratio_init": ratio(at_init), "ratio_trained": ratio(trained),
                     "seconds": time.perf_counter() - started,
                     # index d: distance d from the output, i.e. input step T - d (d = 0 is the last step)
                     "grad_norm_init": at_init[::-1].tolist(), "grad_norm_trained": trained[::-1].tolist()}
            results[cell][length] = found
            print(f"   {cell:<4} T={length:<4} validation accuracy {found['val_accuracy']:.3f}  "
                  f"{taken:>4} steps  ||dL/dx_1|| / ||dL/dx_T||: {found['ratio_init']:.1e} at init, "
                  f"{found['ratio_trained']:.1e} trained  ({found['seconds']:.0f} s)", flush=True)
    return {"task": "first_symbol", "chance": 1 / data.CLASSES, "units": units, "lr": lr, "max_steps": steps,
            "batch_size": batch_size, "gate_init": gate_init, "val_size": val_size, "solved_at": SOLVED,
            "cells": results}
