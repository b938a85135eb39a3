"""Timing helpers the benchmark modules share: training rate, time to a quality target, peak memory."""
import resource
import statistics
import sys
import time


def step_timer():
    """A callback that records the wall time of every training step in `.seconds`."""
    import keras  # here, not at import: `python -m benchmarks` must start TensorFlow quietly first

    class StepTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_train_batch_begin(self, batch, logs=None):
            self._started = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.seconds.append(time.perf_counter() - self._started)

    return StepTimer()


def train_throughput(model, batches, count, warmup=3):
    """Examples (or whatever `count(batch)` counts) per second over the steps after `warmup`.

    `batches`: a list of (inputs, targets) already in memory, so that only the model is timed.
    per_second is the total count over the total time of the timed steps: batched by length,
    steps differ in size and length, and the median step alone would depend on which lengths
    were drawn. The median step time and the median of per-step rates are kept beside it, and
    timed_shapes: how many different input shapes the timed steps had (XLA compiles once per shape).
    """
    import tensorflow as tf  # the input side only; the model may run on any backend

    first = batches[0]
    signature = tf.nest.map_structure(
        lambda array: tf.TensorSpec((None,) * array.ndim, tf.as_dtype(array.dtype)), first)
    data = tf.data.Dataset.from_generator(lambda: iter(batches), output_signature=signature)
    timer = step_timer()
    model.fit(data, epochs=1, verbose=0, callbacks=[timer])
    counts, seconds = [count(batch) for batch in batches[warmup:]], timer.seconds[warmup:]
    shapes = {tuple(array.shape for array in tf.nest.flatten(batch)) for batch in batches[warmup:]}
    return {"per_second": sum(counts) / sum(seconds), "steps_timed": len(seconds), "timed_shapes": len(shapes),
            "step_rate_median": statistics.median(c / s for c, s in zip(counts, seconds)),
            "step_seconds_median": statistics.median(seconds)}


def train_to_target(build, batches, score, target, check_seconds, cap_minutes, min_checks=10, attempts=3):
    """Minutes of training until `score(model)` is at most `target`, or until `cap_minutes` pass.

    `build()`: a freshly compiled model, seeded, so that a rerun starts where the first run did.
    `batches`: a tf.data dataset of training batches, repeated here as long as needed.
    `score` runs before the first step (`start_score`: an untrained model must not be there
    already) and then whenever `check_seconds` of training have passed since the last check,
    at the end of that step, with the clock stopped: it measures, it does not train.
    The time reported is the check that first found the score at the target: the crossing lies
    in the last check interval before it (`resolution_minutes`). When fewer than `min_checks`
    checks came before that one, the run is repeated from the start (build() again, the dataset
    from its first batch) with closer checks, up to `attempts` runs in all.
    Returns minutes, reached, the last score, best_score (the lowest, the start included), start_score,
    resolution_minutes, check_seconds, attempts and every (minutes, score, steps) check of the run reported.
    """
    interval = check_seconds
    for attempt in range(1, attempts + 1):
        result = _train_until(build(), batches, score, target, interval, cap_minutes)
        checks = result["checks"]
        if not result["reached"] or len(checks) - 1 >= min_checks or attempt == attempts:
            break  # len(checks) - 1: the checks before the one that found the target
        if checks[-1][2] <= len(checks):
            break  # every step was checked: closer checks cannot help
        # The crossing came after the check before the last one. The first check ends the first
        # step, which also traces the model, so spread min_checks + 2 checks over the training from
        # the first check to that one; with no such stretch, check about every step after the first.
        (first, _, first_steps), (last, _, last_steps) = checks[0], checks[-1]
        if len(checks) > 2:
            closer = (checks[-2][0] - first) * 60 / (min_checks + 2)
        elif len(checks) == 2:
            closer = (last - first) * 60 / (last_steps - first_steps)
        else:
            closer = last * 60 / last_steps / 2
        interval = min(interval / 2, closer)
    return {**result, "check_seconds": interval, "min_checks": min_checks, "attempts": attempt}


def checked_batches(batches, size):
    """What each time-to-target check scores: every validation batch, or at --size small only the
    first, which is enough to check that a case runs (the whole split, at every check, was most of
    a small run)."""
    return batches if size == "full" else batches.take(1)


def _train_until(model, batches, score, target, interval, cap_minutes):
    """One run of train_to_target with checks every `interval` seconds of training."""
    import keras

    class Watch(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.steps, self.seconds, self.checks = 0, 0.0, []
            self.started = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.steps += 1
            seconds = self.seconds + time.perf_counter() - self.started
            if seconds - (self.checks[-1][0] * 60 if self.checks else 0.0) < interval:
                return
            self.seconds = seconds
            self.checks.append((seconds / 60, float(score(self.model)), self.steps))
            self.model.stop_training = self.checks[-1][1] <= target or seconds >= cap_minutes * 60
            self.started = time.perf_counter()

    start_score = float(score(model))
    watch = Watch()
    # One "epoch" as long as it takes: the repeated dataset's iterator lives through the whole run.
    model.fit(batches.repeat(), steps_per_epoch=10 ** 12, epochs=1, verbose=0, callbacks=[watch])
    minutes, last, _ = watch.checks[-1]
    previous = watch.checks[-2][0] if len(watch.checks) > 1 else 0.0
    return {"minutes": minutes, "reached": last <= target, "score": last, "target": target,
            "best_score": min([start_score] + [score for _, score, _ in watch.checks]),
            "start_score": start_score, "resolution_minutes": minutes - previous,
            "cap_minutes": cap_minutes, "checks": watch.checks}


def timed(function, repeats=3):
    """(median seconds of `repeats` calls after one warm-up call, the last result)."""
    result = function()
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), result


def peak_memory_mb():
    """This process's peak resident memory so far."""
    kilobytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return kilobytes / 1024 if sys.platform != "darwin" else kilobytes / 2 ** 20


