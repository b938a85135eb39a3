"""What a finished run leaves behind for people: metrics.json, a results table, a curves plot."""
import io
import json
import math
import numbers
import platform
import sys


def versions():
    import keras
    import numpy
    found = {"python": platform.python_version(), "keras": keras.__version__, "numpy": numpy.__version__,
             "backend": keras.config.backend()}
    if "tensorflow" in sys.modules:
        found["tensorflow"] = sys.modules["tensorflow"].__version__
    return found


def training_facts(history, monitor="val_loss"):
    """The part of metrics.json every recipe shares: epochs, best epoch, time, device, versions."""
    from shared import device

    rows = history["epochs"]
    scores = [float(row[monitor]) for row in rows]
    return {"epochs_run": len(rows), "best_epoch": 1 + scores.index(min(scores)),
            "train_seconds": history["train_seconds"], "resumed_from_epoch": history["resumed_from_epoch"],
            "device": device.describe(), "versions": versions()}


def metrics_json(metrics):
    """metrics as JSON text that every JSON reader takes: a non-finite number (a NaN loss, an AUC of one
    class, an infinite ratio) is written as null, never as Python's NaN or Infinity, which are not JSON."""
    return json.dumps(finite(metrics), indent=2, allow_nan=False) + "\n"


def finite(value):
    """`value` with every non-finite float in it (numpy's too) replaced by None, numpy scalars and arrays
    made plain Python numbers and lists, and other numbers (a 0-d tensor) floats; dict keys as they are."""
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    if isinstance(value, (bool, str)) or value is None:
        return value
    if hasattr(value, "tolist"):  # a numpy scalar or array
        return finite(value.tolist())
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) or hasattr(value, "__float__"):  # a float, or a 0-d tensor
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def print_comparison(title, model_scores, baselines):
    """A small aligned table: each metric for the model beside each baseline ({name: scores})."""
    names = list(model_scores) + [name for scores in baselines.values() for name in scores
                                  if name not in model_scores]
    names = list(dict.fromkeys(names))
    widths = [max(12, len(name) + 2) for name in baselines]
    print(f"\n{title}")
    print(f"  {'metric':<14}{'model':>10}" + "".join(f"{name:>{w}}" for name, w in zip(baselines, widths)))
    for name in names:
        cells = [model_scores.get(name)] + [scores.get(name) for scores in baselines.values()]
        text = ["-" if value is None else f"{value:.4f}" for value in cells]
        print(f"  {name:<14}{text[0]:>10}" + "".join(f"{t:>{w}}" for t, w in zip(text[1:], widths)))


def pyplot():
    """matplotlib's pyplot on the Agg backend: files only, never a window (set before pyplot loads)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    return plt


def plot_curves(rows, metrics=("loss",)):
    """Training and validation curves per epoch from the CSV log rows, as PNG bytes."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.5), squeeze=False)
    epochs = [int(row["epoch"]) + 1 for row in rows]
    for axis, name in zip(axes[0], metrics):
        for prefix, style in (("", "-o"), ("val_", "--o")):
            values = [float(row[prefix + name]) for row in rows if row.get(prefix + name)]
            if values:
                axis.plot(epochs[: len(values)], values, style, label=(prefix or "train_") + name)
        axis.set_xlabel("epoch")
        axis.set_title(name)
        axis.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()
