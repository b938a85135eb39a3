"""`python -m benchmarks.gpu` (`make gpu-check`): is training fast where a GPU is, and which choices matter.

    python -m benchmarks.gpu [--only textgen,translate] [--minutes 6.5] [--seconds 6] [--out runs/gpu] [--quick]

For each recipe's model, at its default settings, on synthetic data of the real shapes
(SHAPES), training throughput in sequences per second on the GPU and on the CPU, with:
the cuDNN-ready layer (`LSTM`, `GRU`: what shared.layers builds) against the generic one
(`RNN(LSTMCell)`, `RNN(GRUCell)`), and mixed precision (bfloat16) against float32. It runs
on whichever Keras backend is installed (KERAS_BACKEND, else TensorFlow, JAX or torch, the
first found) and needs neither TensorFlow nor the recipes' data. Where no GPU is visible it
says so, measures the CPU rows, and marks the GPU rows "not measured". Each device runs in
a process of its own (the CPU one with the GPUs hidden); rows left when `--minutes` run out
are marked, so the check ends in time. Results: OUT/gpu.json and OUT/gpu.md.
"""
import argparse
import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from shared.errors import UserError, reported

# Each recipe's defaults (its train.py Config; tests/test_gpu_check.py checks they still agree):
# the fields its model factory reads, the batch, and the input shapes of one batch.
SHAPES = {
    "sentiment": {"batch": 32, "length": 600, "vocab": 20000, "config": {
        "cell": "lstm", "bidirectional": True, "units": 32, "layers": 1, "pooling": "mean", "embedding_dim": 64,
        "dropout": 0.3, "ngrams": True, "ngram_inputs": True, "ngram_order": 2, "ngram_buckets": 1048576}},
    "forecast": {"batch": 128, "length": 40, "features": 2, "config": {
        "cell": "lstm", "bidirectional": False, "units": 32, "layers": 1, "dropout": 0.1, "window": 40,
        "horizon": 1}},
    "textgen": {"batch": 64, "length": 100, "vocab": 65, "config": {
        "cell": "gru", "units": 512, "layers": 1, "embedding_dim": 64, "dropout": 0.2}},
    "translate": {"batch": 128, "length": 25, "vocab": 10000, "config": {
        "cell": "gru", "units": 192, "embedding_dim": 128, "layers": 1, "attention": "additive", "dropout": 0.2}},
}
QUICK = {"batch": 8, "length": 12, "vocab": 50, "units": 8, "embedding_dim": 8, "ngram_buckets": 64, "window": 12}
VARIANTS = (  # (layer, precision); the first is what the recipes train with
    ("cuDNN-ready", "float32"),
    ("generic RNN(cell)", "float32"),
    ("cuDNN-ready", "bfloat16"),
)
WARMUP_STEPS = 2  # tracing and compiling happen here, untimed
MAX_STEPS = 40  # the synthetic data holds this many batches


def installed_backend():
    """KERAS_BACKEND if set, else the first of TensorFlow, JAX, torch that is installed."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    for backend, module in (("tensorflow", "tensorflow"), ("jax", "jax"), ("torch", "torch")):
        if importlib.util.find_spec(module) is not None:
            return backend
    raise UserError("no Keras backend is installed: pip install jax, torch or tensorflow")


def shapes(recipe, quick):
    shape = {**SHAPES[recipe], "config": dict(SHAPES[recipe]["config"])}
    if quick:
        shape.update({key: QUICK[key] for key in ("batch", "length", "vocab") if key in shape})
        shape["config"].update({key: QUICK[key] for key in shape["config"] if key in QUICK})
    return shape


def right_padded(rng, rows, length, vocab):
    """(rows, length) ids in [3, vocab), each row's tail zeroed after a length drawn from [length/4, length]."""
    import numpy as np

    ids = rng.integers(3, vocab, size=(rows, length)).astype("int32")
    keep = rng.integers(max(1, length // 4), length + 1, size=rows)
    ids[np.arange(length)[None, :] >= keep[:, None]] = 0
    return ids


def problem(recipe, shape, rng):
    """(model, loss, inputs, targets) for MAX_STEPS batches of the recipe's shapes."""
    import types

    import keras

    config, rows, length = types.SimpleNamespace(**shape["config"]), shape["batch"] * MAX_STEPS, shape["length"]
    tokens = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if recipe == "sentiment":  # what its training fits: the recurrent branch (the n-gram branch is fitted apart)
        from recipes.sentiment import model
        labels = rng.integers(0, 2, size=rows).astype("float32")  # (rows,)
        ids = right_padded(rng, rows, length, shape["vocab"])  # (rows, max_words)
        network = model.build_network(model.build_recurrent(config, shape["vocab"]))
        if model.reads_ngram_weights(config):  # and each step's n-gram weights: (rows, max_words, order)
            steps = rng.normal(size=ids.shape + (config.ngram_order,)).astype("float32") * (ids > 0)[..., None]
            return network, "binary_crossentropy", [ids, steps], labels
        return network, "binary_crossentropy", ids, labels
    if recipe == "forecast":
        from recipes.forecast import model
        windows = rng.normal(size=(rows, config.window, shape["features"])).astype("float32")  # (rows, window, features)
        return (model.build_forecaster(config, shape["features"]), model.pinball_loss, windows,
                rng.normal(size=(rows, config.horizon)).astype("float32"))
    if recipe == "textgen":
        from recipes.textgen import model
        ids = rng.integers(0, shape["vocab"], size=(rows, length + 1)).astype("int32")  # (rows, seq_len + 1)
        return model.build_language_model(config, shape["vocab"]), tokens, ids[:, :-1], ids[:, 1:]
    from recipes.translate import model
    source = right_padded(rng, rows, length, shape["vocab"])  # (rows, S)
    target = right_padded(rng, rows, length + 1, shape["vocab"])  # (rows, T + 1): [start] w1 .. wn [end]
    return (model.build_translator(config, shape["vocab"], shape["vocab"]), tokens, [source, target[:, :-1]],
            target[:, 1:])


@contextlib.contextmanager
def generic_cells():
    """shared.layers builds `RNN(LSTMCell)` / `RNN(GRUCell)` instead of `LSTM` / `GRU` inside this block:
    the same weights and maths through Keras's generic loop, which no backend hands to cuDNN."""
    from keras import layers

    from shared import layers as shared_layers

    def generic(cell_class):
        def make(units, *, return_sequences=False, return_state=False, name=None, dtype=None, unroll=False,
                 go_backwards=False, **cell_options):
            cell = cell_class(units, dtype=dtype, **cell_options)
            return layers.RNN(cell, return_sequences=return_sequences, return_state=return_state, unroll=unroll,
                              go_backwards=go_backwards, name=name, dtype=dtype)
        return make

    saved = dict(shared_layers.CELLS)
    shared_layers.CELLS.update(lstm=generic(layers.LSTMCell), gru=generic(layers.GRUCell))
    try:
        yield
    finally:
        shared_layers.CELLS.update(saved)


def recurrent_classes(layer):
    """The class names of the recurrent layers inside `layer` (a model, a Bidirectional, ...)."""
    import keras

    if isinstance(layer, keras.layers.Bidirectional):
        return recurrent_classes(layer.forward_layer)
    if isinstance(layer, keras.layers.RNN):  # LSTM and GRU are RNN subclasses
        return {type(layer).__name__}
    return set().union(*(recurrent_classes(sub) for sub in getattr(layer, "layers", [])))


def throughput(recipe, shape, layer, precision, seconds):
    """Sequences per second over about `seconds` of training steps, after WARMUP_STEPS untimed ones."""
    import keras
    import numpy as np

    from shared.training import compile_model

    keras.utils.set_random_seed(0)
    keras.config.set_dtype_policy("mixed_bfloat16" if precision == "bfloat16" else "float32")
    try:
        with generic_cells() if layer.startswith("generic") else contextlib.nullcontext():
            network, loss, inputs, targets = problem(recipe, shape, np.random.default_rng(0))
        compile_model(network, lr=1e-3, clipnorm=1.0, loss=loss)  # the recipes' optimizer (Adam, clipnorm)
    finally:
        keras.config.set_dtype_policy("float32")
    batch = shape["batch"]

    def train(steps):
        head = (lambda part: part[:steps * batch])
        started = time.perf_counter()
        # fit returns its logs as Python floats: the device has finished when it returns.
        network.fit([head(p) for p in inputs] if isinstance(inputs, list) else head(inputs), head(targets),
                    batch_size=batch, epochs=1, shuffle=False, verbose=0)
        return time.perf_counter() - started

    train(WARMUP_STEPS)
    one = train(1)  # sizes the timed run
    steps = int(min(MAX_STEPS, max(2, seconds / max(one, 1e-6))))
    elapsed = train(steps)
    return {"per_second": steps * batch / elapsed, "steps": steps, "seconds": elapsed,
            "recurrent": sorted(recurrent_classes(network))}


def child(device, recipes, quick, seconds, deadline, variants=VARIANTS):
    """In this process (the device chosen by the parent's environment): every row, as a JSON line."""
    import keras

    from shared.device import describe, gpu_count

    facts = {"backend": keras.config.backend(), "gpus": gpu_count(), "device": describe(), "rows": []}
    if device == "gpu" and not facts["gpus"]:
        return facts
    for recipe in recipes:
        shape = shapes(recipe, quick)
        for layer, precision in variants:
            row = {"recipe": recipe, "device": device, "layer": layer, "precision": precision}
            if time.time() > deadline:
                row["note"] = "not measured: the time limit (--minutes) ran out"
            else:
                try:
                    row.update(throughput(recipe, shape, layer, precision, seconds))
                except Exception as error:  # a row that fails on this backend says why; the others still run
                    row["note"] = f"failed: {type(error).__name__}: {str(error).splitlines()[0][:200]}"
            facts["rows"].append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    return facts


def run_device(device, backend, options, deadline):
    """The child process for one device; GPUs hidden for the CPU one."""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    if device == "cpu":
        env.update(CUDA_VISIBLE_DEVICES="", JAX_PLATFORMS="cpu")
    command = [sys.executable, "-m", "benchmarks.gpu", "--child", device, "--only", ",".join(options.only),
               "--seconds", str(options.seconds), "--deadline", str(deadline)]
    command += (["--quick"] if options.quick else []) + (["--only-defaults"] if options.only_defaults else [])
    try:
        process = subprocess.run(command, env=env, capture_output=True, text=True,
                                 timeout=max(30.0, deadline - time.time() + 45), check=False)
    except subprocess.TimeoutExpired as stopped:  # a row ran long past the limit: keep the rows it printed
        printed = stopped.stderr.decode() if isinstance(stopped.stderr, bytes) else (stopped.stderr or "")
        rows = [json.loads(line) for line in printed.splitlines() if line.startswith('{"recipe"')]
        return {"rows": rows, "error": f"not measured: the {device} process ran past the time limit (--minutes)"}
    lines = process.stdout.strip().splitlines()
    if process.returncode != 0 or not lines:
        return {"rows": [], "error": f"the {device} process failed: {(process.stderr.strip().splitlines() or ['?'])[-1]}"}
    return json.loads(lines[-1])


def table(results, recipes):
    """Markdown: one row per (recipe, device, layer, precision), the ratio to the recipe's CPU float32 row."""
    gpu = results["gpu"]
    seen = gpu.get("device") if gpu.get("gpus") else "unknown" if "error" in gpu else "none visible"
    lines = [f"backend: {results['backend']}; GPU: {seen}; "
             f"CPU: {results['cpu'].get('device', '?')}", "",
             "| recipe | device | layer | precision | sequences/s | vs. CPU, cuDNN-ready, float32 | steps timed "
             "| recurrent layers built |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    rows = {(r["recipe"], r["device"], r["layer"], r["precision"]): r
            for part in ("gpu", "cpu") for r in results[part].get("rows", [])}
    for recipe in recipes:
        base = rows.get((recipe, "cpu") + VARIANTS[0], {}).get("per_second")
        for device in ("gpu", "cpu"):
            for layer, precision in VARIANTS:
                if (layer, precision) != VARIANTS[0] and results.get("only_defaults"):
                    continue
                row = rows.get((recipe, device, layer, precision))
                if row is None:
                    why = (results[device].get("error") or ("not measured: no GPU is visible to the "
                           f"{results['backend']} backend" if device == "gpu" else "not measured"))
                    lines.append(f"| {recipe} | {device.upper()} | {layer} | {precision} | {why} | | | |")
                elif "per_second" not in row:
                    lines.append(f"| {recipe} | {device.upper()} | {layer} | {precision} | {row['note']} | | | |")
                else:
                    ratio = f"{row['per_second'] / base:.2f}x" if base else ""
                    lines.append(f"| {recipe} | {device.upper()} | {layer} | {precision} | "
                                 f"{row['per_second']:,.1f} | {ratio} | {row['steps']} | {', '.join(row['recurrent'])} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(SHAPES), help="recipes, comma-separated")
    parser.add_argument("--minutes", type=float, default=6.5,
                        help="no row starts after this (default 6.5); a row running 45 s past it is stopped")
    parser.add_argument("--seconds", type=float, default=6.0, help="timed training per row (default 6)")
    parser.add_argument("--out", default="runs/gpu", help="folder for gpu.json and gpu.md")
    parser.add_argument("--quick", action="store_true", help="tiny shapes, for a test of the check itself")
    parser.add_argument("--only-defaults", action="store_true",
                        help="only the recipes' own layer and precision (cuDNN-ready, float32)")
    parser.add_argument("--child", choices=("gpu", "cpu"), help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    options.only = [name for name in options.only.split(",") if name]
    unknown = [name for name in options.only if name not in SHAPES]
    if unknown:
        raise UserError(f"--only: unknown recipe {unknown[0]!r} (choose from {', '.join(SHAPES)})")
    if options.child:
        variants = VARIANTS[:1] if options.only_defaults else VARIANTS
        print(json.dumps(child(options.child, options.only, options.quick, options.seconds, options.deadline, variants)))
        return 0
    backend = installed_backend()
    deadline = time.time() + options.minutes * 60
    results = {"backend": backend, "only_defaults": options.only_defaults, "gpu": run_device("gpu", backend, options, deadline)}
    if not results["gpu"].get("gpus") and "error" not in results["gpu"]:
        print(f"no GPU is visible to the {backend} backend: CPU rows only, GPU rows not measured")
    results["cpu"] = run_device("cpu", backend, options, deadline)
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    markdown = table(results, options.only)
    (out / "gpu.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    (out / "gpu.md").write_text(markdown, encoding="utf-8")
    print(markdown + f"(written to {out / 'gpu.md'} and {out / 'gpu.json'})")
    return 0


if __name__ == "__main__":
    with reported("python -m benchmarks.gpu"):
        sys.exit(main())
