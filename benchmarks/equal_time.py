"""The recipe's GRU beside a small transformer at equal training time, on the recipe's split and scores.

One run per model. A short warm-up on a throwaway copy measures the step time; the run then
trains total_steps = (budget - the first step's tracing) / step time steps under a cosine that
falls from the peak rate to 0 over exactly those steps, so it ends at the budget on this machine
and the rate follows the steps, never the clock. At each checkpoint (minutes of training, the
last one being the end of the schedule) the clock stops and both tails are scored; scoring is not
training time.

Scores are nats per character on the same characters for every model: the recipe's targets
(`data.scored_positions(ids, SCORE_WINDOW)`, every character of a tail but the first and the
last < 100). Each model reads its own natural context:
- the GRU as the recipe scores it: back-to-back windows of 100 from a zero state, so a character
  sees the 0-99 characters before it in its window; and (`validation_carried`, `test_carried`)
  with the state carried through 8 contiguous streams of each tail, as the recipe's carried
  validation scores (trained as the recipe's `carry_state` says: benchmarks/equal_time_rnn.py);
- the transformer with a window of its context sliding by half of it: after the first window a
  character sees between context/2 and context - 1 characters before it (`window_nll`);
- the Kneser-Ney n-gram (the recipe's baseline) sees its order - 1 characters.
"""
import math
import time

import keras
import numpy as np

SCORE_WINDOW = 100  # the recipe's seq_len: its windows define the scored characters for every model
WARMUP_STEPS = {"untimed": 3, "timed": 20}  # the first steps trace the model; the timed ones set the pace
OVERRUN_CAP = 1.25  # a run whose steps take longer than this times the budget stops there, flagged


def window_nll(predict, ids, last, window, stride, batch_size=64):
    """Mean cross-entropy (nats/char) of ids[1..last], each predicted from the characters before it
    in windows of `window` starting at 0, stride, 2 * stride, ... (and one ending at `last`).

    stride == window: back-to-back windows, each from a fresh start (the recipe's scoring of its GRU,
    when last is a multiple of window). stride < window: each window scores only the characters
    past the previous one, so every character after the first window has at least window - stride
    characters before it. predict: (n, window) int32 -> (n, window, vocab) logits.
    """
    ids = np.asarray(ids, dtype="int32")
    window = min(window, last)
    starts = list(range(0, last - window + 1, stride))
    if starts[-1] != last - window:
        starts.append(last - window)
    nll = np.full(last + 1, np.nan)
    done = 0  # the last position scored so far
    for begin in range(0, len(starts), batch_size):
        chunk = starts[begin: begin + batch_size]
        logits = np.asarray(predict(np.stack([ids[s: s + window] for s in chunk])), dtype="float64")
        shifted = logits - logits.max(axis=-1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))  # (n, window, vocab)
        for row, start in enumerate(chunk):
            first = max(done + 1, start + 1)  # the positions this window adds: first..start + window
            targets = ids[first: start + window + 1]
            nll[first: start + window + 1] = -log_probs[row, first - start - 1:, :][np.arange(len(targets)), targets]
            done = start + window
    assert not np.isnan(nll[1:]).any()
    return float(nll[1:].mean())


def cosine_rate(peak, step, total_steps):
    """The rate Keras's CosineDecay(peak, total_steps) gives at `step` (0 at the end, and after)."""
    return peak * 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / total_steps))


class StepClock(keras.callbacks.Callback):
    """Seconds of training (steps, tracing, input), the clock stopped while `at_checkpoint` runs.

    It calls at_checkpoint(steps, seconds, [checkpoints reached]) at the end of the first step past
    each checkpoint but the last, and at the last step with the rest (or at `cap_seconds`, when the
    steps run late: `cut`).
    """

    def __init__(self, checkpoint_minutes, total_steps, cap_seconds, at_checkpoint):
        super().__init__()
        self.due, self.total_steps, self.cap = list(checkpoint_minutes), total_steps, cap_seconds
        self.at_checkpoint, self.steps, self.seconds, self.cut = at_checkpoint, 0, 0.0, False

    def on_train_begin(self, logs=None):
        self.started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        seconds = self.seconds + time.perf_counter() - self.started
        last = self.steps >= self.total_steps
        self.cut = not last and seconds >= self.cap
        if not (last or self.cut or (len(self.due) > 1 and seconds >= self.due[0] * 60)):
            return
        self.seconds = seconds
        reached = [due for due in self.due if due * 60 <= seconds or last or self.cut]
        self.due = self.due[len(reached):]
        self.at_checkpoint(self.steps, seconds, reached)
        self.model.stop_training = last or self.cut
        self.started = time.perf_counter()


class StepEnds(keras.callbacks.Callback):
    """The perf_counter at the start of training and at the end of every step (`ends`)."""

    def on_train_begin(self, logs=None):
        self.started, self.ends = time.perf_counter(), []

    def on_train_batch_end(self, batch, logs=None):
        self.ends.append(time.perf_counter())


def measure_step_seconds(build, batches, callbacks=(), untimed=WARMUP_STEPS["untimed"],
                         timed=WARMUP_STEPS["timed"]):
    """(seconds a step, seconds the first step takes beyond that): on a throwaway model from build().

    Measured from step end to step end, as the run's clock counts: the input pipeline and the
    callbacks between steps included (timing only inside the step made a 2.5-minute run of the
    transformer, fed from Python, end 5-12% late).
    """
    model, ends = build(decay_steps=1000), StepEnds()
    model.fit(batches(), steps_per_epoch=untimed + timed, epochs=1, verbose=0, callbacks=[*callbacks, ends])
    step = (ends.ends[-1] - ends.ends[untimed - 1]) / timed
    return step, max(ends.ends[0] - ends.started - step, 0.0)


def train_for(build, batches, budget_minutes, checkpoint_minutes, score, peak_lr, callbacks=()):
    """One run whose cosine spans `budget_minutes` of training here, scored at each checkpoint.

    build(decay_steps): a fresh, seeded, compiled model whose rate falls from peak_lr to 0 over
    decay_steps. batches(): a fresh endless iterable of (inputs, targets). score(model): a dict of
    scores. checkpoint_minutes: increasing; the last is the budget, taken at the last step.
    Returns the model, and a dict: step_seconds, total_steps, checkpoints (each: minutes, steps,
    lr, and the scores), cut (stopped at OVERRUN_CAP x budget before the last step).
    """
    step, tracing = measure_step_seconds(build, batches, callbacks)
    budget = budget_minutes * 60
    total_steps = max(1, int((budget - tracing) / step))
    model, checkpoints = build(decay_steps=total_steps), []

    def at_checkpoint(steps, seconds, reached):
        started = time.perf_counter()
        scores = score(model)
        row = {"minutes": seconds / 60, "steps": steps, "lr": cosine_rate(peak_lr, steps, total_steps),
               "optimizer_lr": float(np.asarray(model.optimizer.learning_rate)), **scores,
               "scoring_seconds": time.perf_counter() - started}
        checkpoints.extend({"checkpoint": due, **row} for due in reached)
        print(f"    {seconds / 60:6.2f} min, step {steps:,}/{total_steps:,}: " +
              ", ".join(f"{k} {v:.4f}" for k, v in scores.items() if isinstance(v, float)), flush=True)

    clock = StepClock(checkpoint_minutes, total_steps, budget * OVERRUN_CAP, at_checkpoint)
    model.fit(batches(), steps_per_epoch=total_steps, epochs=1, verbose=0, callbacks=[*callbacks, clock])
    return model, {"step_seconds": step, "tracing_seconds": tracing, "total_steps": total_steps,
                   "budget_minutes": budget_minutes, "checkpoint_minutes": list(checkpoint_minutes),
                   "checkpoints": checkpoints, "cut": clock.cut, "train_seconds": clock.seconds}


def random_windows(ids, context, batch_size, seed=0):
    """Endless (batch, context) int32 (inputs, next characters) from random offsets (nanoGPT's sampling)."""
    rng = np.random.default_rng(seed)
    ids = np.asarray(ids, dtype="int32")
    offsets = np.arange(context + 1)
    while True:
        rows = ids[rng.integers(0, len(ids) - context, batch_size)[:, None] + offsets]  # (batch, context + 1)
        yield rows[:, :-1], rows[:, 1:]


def prepare(text):
    """The recipe's split, vocabulary and ids: (ids by part, vocab, last scored position by tail, baselines)."""
    from recipes.textgen import baseline, data
    from recipes.textgen.config import TEST_FRACTION, VAL_FRACTION

    corpus = data.split(text, VAL_FRACTION, SCORE_WINDOW, test_fraction=TEST_FRACTION)
    vocab = data.vocabulary(corpus.train)
    ids = {part: data.encode(getattr(corpus, part), vocab) for part in ("train", "val", "test")}
    last = {part: int(data.scored_positions(ids[part], SCORE_WINDOW)[-1]) for part in ("val", "test")}
    found = baseline.score_baselines(ids["train"], ids["val"], ids["test"], len(vocab), SCORE_WINDOW)
    baselines = {name: {"label": row["label"], "validation": row["validation"]["nats_per_char"],
                        "test": row["test"]["nats_per_char"]} for name, row in found.items()}
    return ids, vocab, last, baselines


def scorer(last, window, stride, ids):
    """score(model): validation and test nats/char on the scored characters, windows as given."""
    def score(model):
        return {"validation": window_nll(model.predict_on_batch, ids["val"], last["val"], window, stride),
                "test": window_nll(model.predict_on_batch, ids["test"], last["test"], window, stride)}
    return score


def char_loss():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def run_rnn(text, config, budget_minutes, checkpoint_minutes, generate_chars=500, callbacks=()):
    """The recipe's GRU, trained as config.carry_state says, by the budget: benchmarks/equal_time_rnn.py."""
    from benchmarks import equal_time_rnn

    return equal_time_rnn.run_rnn(text, config, budget_minutes, checkpoint_minutes, generate_chars, callbacks)


def run_transformer(text, settings, budget_minutes, checkpoint_minutes, generate_chars=500, seed=0, callbacks=()):
    """benchmarks.char_transformer on random windows of its context, the same optimizer code, by the budget."""
    from benchmarks import char_transformer
    from shared.training import compile_model

    s = settings
    ids, vocab, last, baselines = prepare(text)

    def build(decay_steps):
        keras.utils.set_random_seed(seed)
        network = char_transformer.build_char_transformer(s, len(vocab))
        compile_model(network, lr=s.lr, clipnorm=s.clipnorm, loss=char_loss(), decay_steps=decay_steps)
        return network

    network, run = train_for(build, lambda: random_windows(ids["train"], s.context, s.batch_size, seed),
                             budget_minutes, checkpoint_minutes,
                             scorer(last, s.context, max(1, s.context // 2), ids), s.lr, callbacks)
    prompt_ids = ids["train"][:1]
    sample, seconds = generate_windowed(network, vocab, prompt_ids, generate_chars, s.context, seed)
    return network, run_report(
        run, network, baselines, s.batch_size * s.context, generate_chars, seconds, sample,
        what=char_transformer.describe(s),
        context=(f"a window of {s.context} sliding by {max(1, s.context // 2)} "
                 f"({s.context - max(1, s.context // 2)}-{s.context - 1} characters before, "
                 f"fewer in the first window)"),
        generation=f"re-reading the last {s.context} characters for each new one")


def generate_windowed(network, vocab, prompt_ids, length, context, seed=0, temperature=0.8):
    """(text, seconds) for `length` new characters, each from a pass over the last `context` characters."""
    from keras import ops

    from recipes.textgen.generate import distribution
    from shared.inference import compiled

    call = compiled(network, [((1, None), "int32")])
    history = [int(i) for i in prompt_ids]
    for width in (1, context):  # traces the graph (one, whatever the length) before timing
        ops.convert_to_numpy(call(np.zeros((1, width), "int32")))
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    for _ in range(length):
        window = np.asarray(history[-context:], dtype="int32")[None, :]  # (1, <= context)
        logits = ops.convert_to_numpy(call(window)[0, -1])  # (vocab,)
        history.append(int(rng.choice(len(vocab), p=distribution(logits, temperature))))
    seconds = time.perf_counter() - started
    return "".join(vocab[i] for i in history[len(prompt_ids):]), seconds


def run_report(run, model, baselines, chars_per_step, generate_chars, generate_seconds, sample, what, context,
            generation):
    steps = run["checkpoints"][-1]["steps"] if run["checkpoints"] else 0
    return {"what": what, "unit": "chars", "per_second": steps * chars_per_step / max(run["train_seconds"], 1e-9),
            "parameters": int(model.count_params()), "chars_per_step": chars_per_step, "context_scored": context,
            "generation": {"chars": generate_chars, "per_second": generate_chars / max(generate_seconds, 1e-9),
                           "how": generation, "sample": sample[:200]},
            "baselines": baselines, "scored_characters": f"the recipe's targets of windows of {SCORE_WINDOW}",
            **run}
