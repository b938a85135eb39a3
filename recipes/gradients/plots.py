"""The four figures, as PNG bytes (matplotlib on the Agg backend: files only, never a window)."""
import io

import numpy as np

from shared.report import pyplot

COLOURS = {"rnn": "tab:red", "lstm": "tab:blue", "gru": "tab:green"}
NAMES = {"rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}


def _png(fig):
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=80)
    pyplot().close(fig)
    return buffer.getvalue()


def accuracy_vs_length(vanishing):
    plt = pyplot()
    fig, (axis, taken) = plt.subplots(1, 2, figsize=(10, 3.6))
    for cell, by_length in vanishing["cells"].items():
        lengths = sorted(by_length, key=int)
        x = [int(t) for t in lengths]
        axis.plot(x, [by_length[t]["val_accuracy"] for t in lengths], "-o", color=COLOURS[cell], label=NAMES[cell])
        taken.plot(x, [by_length[t]["steps"] for t in lengths], "-o", color=COLOURS[cell], label=NAMES[cell])
    axis.axhline(vanishing["chance"], color="grey", linestyle="--", label="chance (1/4)")
    axis.set_ylabel("validation accuracy")
    axis.set_ylim(0, 1.05)
    axis.set_title(f"first-symbol task, {vanishing['units']} units")
    axis.legend()
    taken.axhline(vanishing["max_steps"], color="grey", linestyle="--", label="budget (--steps)")
    taken.set_ylabel("training steps taken")
    taken.set_title(f"steps until solved ({vanishing['solved_at']:.2f} on fresh batches)")
    for panel in axis, taken:
        panel.set_xscale("log")
        panel.set_xlabel("sequence length T (the class is step 1)")
    return _png(fig)


def gradient_length(vanishing, wanted=100):
    """The length whose gradient profile is drawn: the one nearest `wanted`."""
    lengths = {t for by_length in vanishing["cells"].values() for t in by_length}  # int, or str from JSON
    return min(lengths, key=lambda t: (abs(int(t) - wanted), int(t)))


def gradient_vs_distance(vanishing):
    length = gradient_length(vanishing)
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    panels = (("grad_norm_init", "at initialisation"), ("grad_norm_trained", "after training"))
    for axis, (when, title) in zip(axes, panels):
        for cell, by_length in vanishing["cells"].items():
            norms = np.asarray(by_length[length][when])  # index: distance from the output
            shown = np.where(norms > 0, norms, np.nan)  # exactly 0 (below float32's range) cannot be drawn
            axis.plot(np.arange(len(norms)), shown, color=COLOURS[cell], label=NAMES[cell])
        axis.set_yscale("log")
        axis.set_xlabel("distance from the output, T - t (steps)")
        axis.set_title(f"{title}, T = {length}, LSTM/GRU gates: {vanishing['gate_init']}")
    axes[0].set_ylabel("mean ||dL/dx_t||")
    axes[0].legend()
    return _png(fig)


def exploding(result):
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    for (name, log), colour in zip(result["runs"].items(), ("tab:red", "tab:blue", "tab:green", "tab:grey")):
        steps = np.arange(1, len(log["loss"]) + 1)
        label = name + (f" (NaN at step {log['nan_at_step']})" if "nan_at_step" in log else "")
        axes[0].plot(steps, log["grad_norm"], color=colour, lw=0.8, label=label)
        axes[1].plot(steps, log["loss"], color=colour, lw=0.8, label=label)
        axes[2].plot(steps, log["update_norm"], color=colour, lw=0.8, label=label)
    axes[0].set_title("gradient norm before clipping")
    axes[1].set_title("training loss (fresh batch each step)")
    axes[2].set_title("size of the step ||w_new - w_old||")
    for axis in axes:
        axis.set_yscale("log")
    axes[1].axhline(np.log(4), color="grey", linestyle="--", lw=0.8, label="chance: ln 4")
    for axis in axes:
        axis.set_xlabel("training step")
    axes[1].legend(fontsize=8)
    fig.suptitle(f"SimpleRNN, recurrent spectral radius {result['radius_measured']:.2f}, T = {result['length']}, "
                 f"SGD lr {result['sgd_lr']:g}", fontsize=10)
    return _png(fig)


def bidirectional(result):
    plt = pyplot()
    fig, axis = plt.subplots(figsize=(5.5, 3.6))
    cells = list(result["cells"])
    for offset, (name, colour) in enumerate((("one direction", "tab:orange"), ("bidirectional", "tab:purple"))):
        values = [result["cells"][cell][name]["val_accuracy"] for cell in cells]
        axis.bar(np.arange(len(cells)) + (offset - 0.5) * 0.38, values, 0.38, color=colour, label=name)
    axis.axhline(result["chance"], color="grey", linestyle="--", label="chance (1/4)")
    axis.axhline(result["one_end_only"], color="black", linestyle=":", label="one end only (1/2)")
    axis.set_xticks(np.arange(len(cells)), [NAMES[cell] for cell in cells])
    axis.set_ylabel("validation accuracy")
    axis.set_ylim(0, 1.05)
    axis.set_title(f"class = first and last symbol, T = {result['length']}")
    axis.legend(fontsize=8, loc="lower right")
    return _png(fig)


def all_figures(results):
    """{file name: PNG bytes} for the experiments that ran."""
    return {"accuracy_vs_length.png": accuracy_vs_length(results["vanishing"]),
            "gradient_vs_distance.png": gradient_vs_distance(results["vanishing"]),
            "exploding.png": exploding(results["exploding"]),
            "bidirectional.png": bidirectional(results["bidirectional"])}
