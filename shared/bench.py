"""Benchmarks: each recipe's speed beside its tutorial configuration, measured in one run.

    python -m shared.bench [--only sentiment,forecast] [--out runs/bench]     (what `make bench` runs)

A recipe takes part by having a `bench.py` with CASES, a dict of name -> function(size)
returning a measurement dict, and COMPARE, a list of (case, baseline case, what) pairs.
Every case runs in a process of its own, so its peak memory is its own and one case's
threads or graphs cannot slow the next. Results: OUT/bench.json and OUT/bench.md.
"""
import argparse
import importlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from shared.errors import UserError, reported

RECIPES_DIR = Path(__file__).resolve().parent.parent / "recipes"


def step_timer():
    """A callback that records the wall time of every training step in `.seconds`."""
    import keras  # here, not at import: `python -m shared.bench` must start TensorFlow quietly first

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
    Returns minutes, reached, the last score, start_score, resolution_minutes, check_seconds,
    attempts and every (minutes, score, steps) check of the run reported.
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


def machine():
    from shared.device import describe
    from shared.report import versions
    return {"device": describe(), "processor": platform.processor() or platform.machine(),
            "cores": os.cpu_count(), **versions()}


def recipes_with_benchmarks():
    return sorted(path.parent.name for path in RECIPES_DIR.glob("*/bench.py"))


def plan(recipes):
    """In this process: the machine, and each recipe's case names and comparisons."""
    plans = {}
    for recipe in recipes:
        module = importlib.import_module(f"recipes.{recipe}.bench")
        plans[recipe] = {"cases": list(module.CASES), "compare": [list(item) for item in module.COMPARE]}
    return {"machine": machine(), "recipes": plans}


def in_child(*flags):
    """`python -m shared.bench FLAGS` in a fresh interpreter: (its last printed line as JSON, error line).

    The driver imports no recipe and no Keras itself, so code that changes while a long run
    goes on cannot leave it holding a stale module: every case starts from the files as they are.
    """
    done = subprocess.run([sys.executable, "-m", "shared.bench", *flags], check=False,
                          capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return None, f"exit {done.returncode}: " + (done.stderr.strip().splitlines() or ["no output"])[-1]
    return json.loads(lines[-1]), None


def run_case(recipe, case, size):
    """In this process: one case's measurement, plus its peak memory."""
    module = importlib.import_module(f"recipes.{recipe}.bench")
    started = time.perf_counter()
    result = module.CASES[case](size)
    return {**result, "case_seconds": time.perf_counter() - started, "peak_memory_mb": peak_memory_mb()}


def run_in_child(recipe, case, size):
    """One case in a fresh interpreter, so its peak memory is its own."""
    result, error = in_child("--case", f"{recipe}:{case}", "--size", size)
    return {"error": error} if error else result


def compare(recipe, case, baseline, what, a, b):
    """A ratio row: rates as case / baseline; minutes to a target as baseline / case (a speed-up)."""
    item = {"recipe": recipe, "case": case, "baseline": baseline, "what": what}
    if "per_second" in a and "per_second" in b:
        item["ratio"] = a["per_second"] / b["per_second"]
    elif "minutes" in a and "minutes" in b and a["reached"]:
        item["ratio"] = b["minutes"] / a["minutes"]
        item["at_least"] = not b["reached"]  # the baseline never got there: its time is a lower bound
        if "resolution_minutes" in a and "resolution_minutes" in b:
            # Each crossing lies within its last check interval before the time reported.
            low = max(b["minutes"] - b["resolution_minutes"], 0.0) if b["reached"] else b["minutes"]
            item["ratio_range"] = [low / a["minutes"],
                                   b["minutes"] / max(a["minutes"] - a["resolution_minutes"], 1e-9)]
    return item


def markdown(results, comparisons, about, minutes=None):
    rows = ["| recipe | case | what | rate | unit | step (s) | peak memory (MB) |",
            "| --- | --- | --- | ---: | --- | ---: | ---: |"]
    targets = ["| recipe | case | what | minutes of training | resolution (s) | checks | reached | peak memory (MB) |",
               "| --- | --- | --- | ---: | ---: | ---: | --- | ---: |"]
    for (recipe, case), row in results.items():
        if "error" in row:
            rows.append(f"| {recipe} | {case} | failed: {row['error']} | | | | |")
        elif "minutes" in row:
            resolution = f"{row['resolution_minutes'] * 60:.2f}" if "resolution_minutes" in row else ""
            checks = str(len(row["checks"])) if "checks" in row else ""
            targets.append(f"| {recipe} | {case} | {row['what']} | {row['minutes']:.2f} | {resolution} | {checks} | "
                           f"{'yes' if row['reached'] else 'no'} | {row['peak_memory_mb']:,.0f} |")
        else:
            step = f"{row['step_seconds_median']:.3f}" if "step_seconds_median" in row else ""
            rows.append(f"| {recipe} | {case} | {row['what']} | {row['per_second']:,.1f} | {row['unit']}/s | "
                        f"{step} | {row['peak_memory_mb']:,.0f} |")
    note = ["", ("A time to target is the check that first found the score at the target; the crossing lies "
                 "within the resolution (the last check interval) before it.")]
    rows += ([""] + targets + note if len(targets) > 2 else []) + [
        "", "| recipe | comparison | ratio | range from the check intervals |", "| --- | --- | ---: | ---: |"]
    for item in comparisons:
        ratio = "not measured"
        if "ratio" in item:
            ratio = ("at least " if item.get("at_least") else "") + f"{item['ratio']:.2f}x"
        span = ""
        if "ratio_range" in item:
            low, high = item["ratio_range"]
            span = "" if item.get("at_least") else f"{low:.2f}x to {high:.2f}x"  # "at least": already a bound
        rows.append(f"| {item['recipe']} | {item['what']} | {ratio} | {span} |")
    header = [f"Measured {about['date']} on {about['device']}; Python {about['python']}, "
              + ", ".join(f"{k} {v}" for k, v in about.items() if k in ("tensorflow", "keras")) + "."
              + (f" The whole run took {minutes:.1f} min." if minutes is not None else ""), ""]
    return "\n".join(header + rows) + "\n"


def write(out, about, size, results, comparisons, seconds):
    report = {"machine": about, "size": size, "minutes": seconds / 60, "comparisons": comparisons,
              "results": [{"recipe": r, "case": c, **row} for (r, c), row in results.items()]}
    (out / "bench.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out / "bench.md").write_text(markdown(results, comparisons, about, seconds / 60), encoding="utf-8")
    return report


def main(argv=None):
    prog = "python -m shared.bench"
    with reported(prog):
        parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                         formatter_class=argparse.RawDescriptionHelpFormatter)
        parser.add_argument("--only", default="", help="comma-separated recipes (default: all with a bench.py)")
        parser.add_argument("--out", default="runs/bench", help="folder for bench.json and bench.md")
        parser.add_argument("--size", default="full", choices=("full", "small"),
                            help="small: a few steps per case and smoke-sized training, to check the benchmark runs")
        parser.add_argument("--skip", default="", help="comma-separated recipe:case to leave out")
        parser.add_argument("--case", default="", help=argparse.SUPPRESS)  # recipe:case, in a child process
        parser.add_argument("--plan", default="", help=argparse.SUPPRESS)  # recipe,...: list cases, in a child
        args = parser.parse_args(argv)
        if args.case:
            recipe, case = args.case.split(":")
            print(json.dumps(run_case(recipe, case, args.size)))
            return None
        if args.plan:
            print(json.dumps(plan(args.plan.split(","))))
            return None
        available = recipes_with_benchmarks()
        chosen = [name.strip() for name in args.only.split(",") if name.strip()] or available
        for name in chosen:
            if name not in available:
                raise UserError(f"--only: no benchmark for {name!r} (have: {', '.join(available)})")
        planned, error = in_child("--plan", ",".join(chosen))
        if error:
            raise UserError(f"could not list the benchmark cases: {error}")
        skipped = {item.strip() for item in args.skip.split(",") if item.strip()}
        known = {f"{recipe}:{case}" for recipe in chosen for case in planned["recipes"][recipe]["cases"]}
        if skipped - known:
            raise UserError(f"--skip: no case {min(skipped - known)!r} (expected recipe:case, "
                            f"one of {', '.join(sorted(known))})")
        about = {"date": time.strftime("%Y-%m-%d"), **planned["machine"]}
        print(f"benchmarks on {about['device']}; " + ", ".join(f"{k} {v}" for k, v in about.items()
                                                                 if k not in ("date", "device")))
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        results, comparisons, started = {}, [], time.perf_counter()
        for recipe in chosen:
            for case in planned["recipes"][recipe]["cases"]:
                if f"{recipe}:{case}" in skipped:
                    continue
                print(f"  {recipe}:{case} ...", end="", flush=True)
                results[(recipe, case)] = row = run_in_child(recipe, case, args.size)
                print(f" {row['error']}" if "error" in row else f" {row['minutes']:.2f} min" if "minutes" in row
                      else f" {row['per_second']:,.1f} {row['unit']}/s")
                # Written after every case: a run stopped part-way keeps what it measured.
                report = write(out, about, args.size, results, comparisons, time.perf_counter() - started)
            for case, baseline, what in planned["recipes"][recipe]["compare"]:
                comparisons.append(compare(recipe, case, baseline, what, results.get((recipe, case), {}),
                                           results.get((recipe, baseline), {})))
        report = write(out, about, args.size, results, comparisons, time.perf_counter() - started)
        print("\n" + markdown(results, comparisons, about) + f"\nwrote {out}/bench.json and {out}/bench.md "
              f"({report['minutes']:.1f} min in all)")
        return report


if __name__ == "__main__":
    from shared.entry import quiet_start
    quiet_start()
    main()
