"""`python -m benchmarks` (what `make bench` runs): every recipe's speed beside its tutorial
configuration, measured in one run.

    python -m benchmarks [--only sentiment,forecast] [--skip recipe:case] [--size small] [--out runs/bench]

A recipe takes part through a module benchmarks/RECIPE.py (listed in RECIPES) with CASES, a
dict of name -> function(size) returning a measurement dict, and COMPARE, a list of (case,
baseline case, what) pairs. Benchmarks sit above the recipes: a copied recipe carries none.
Every case runs in a process of its own, so its peak memory is its own and one case's
threads or graphs cannot slow the next. Results: OUT/bench.json and OUT/bench.md.

How long: textgen's two equal-time cases (the recipe's GRU and a small transformer, 30 minutes
of training each, scored at 5, 10, 20 and 30) take about 61 minutes of the run by themselves;
`--skip textgen:equal_time,textgen:equal_time_transformer` leaves them out.
"""
import argparse
import importlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.harness import peak_memory_mb
from shared.errors import UserError, reported

RECIPES = ("forecast", "sentiment", "textgen", "translate")  # each with a module benchmarks/RECIPE.py
# The scores an equal-time checkpoint may hold, in the table's order (the carried ones: the RNN's only).
EQUAL_TIME_SCORES = ("validation", "test", "validation_carried", "test_carried")


def machine():
    from shared.device import describe
    from shared.report import versions
    return {"device": describe(), "processor": platform.processor() or platform.machine(),
            "cores": os.cpu_count(), **versions()}


def recipes_with_benchmarks():
    return list(RECIPES)


def plan(recipes):
    """In this process: the machine, and each recipe's case names and comparisons."""
    plans = {}
    for recipe in recipes:
        module = importlib.import_module(f"benchmarks.{recipe}")
        plans[recipe] = {"cases": list(module.CASES), "compare": [list(item) for item in module.COMPARE]}
    return {"machine": machine(), "recipes": plans}


def in_child(*flags):
    """`python -m benchmarks FLAGS` in a fresh interpreter: (its last printed line as JSON, error line).

    The driver imports no recipe and no Keras itself, so code that changes while a long run
    goes on cannot leave it holding a stale module: every case starts from the files as they are.
    """
    done = subprocess.run([sys.executable, "-m", "benchmarks", *flags], check=False,
                          capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return None, f"exit {done.returncode}: " + (done.stderr.strip().splitlines() or ["no output"])[-1]
    return json.loads(lines[-1]), None


def run_case(recipe, case, size):
    """In this process: one case's measurement, plus its peak memory."""
    module = importlib.import_module(f"benchmarks.{recipe}")
    started = time.perf_counter()
    result = module.CASES[case](size)
    return {**result, "case_seconds": time.perf_counter() - started, "peak_memory_mb": peak_memory_mb()}


def run_in_child(recipe, case, size):
    """One case in a fresh interpreter, so its peak memory is its own."""
    result, error = in_child("--case", f"{recipe}:{case}", "--size", size)
    return {"error": error} if error else result


def compare(recipe, case, baseline, what, a, b):
    """A ratio row: rates as case / baseline; minutes to a target as baseline / case (a speed-up).

    A time-to-target ratio only where both sides reached the target (MLPerf's time-to-train rule):
    a side stopped at its cap has no time to divide, and its cap is no lower bound on one. Then the
    row says instead which side does not reach it within what, with its best score, and when the
    other got there (`not_reached`).
    """
    item = {"recipe": recipe, "case": case, "baseline": baseline, "what": what}
    if "per_second" in a and "per_second" in b:
        item["ratio"] = a["per_second"] / b["per_second"]
    elif "minutes" in a and "minutes" in b:
        if a["reached"] and b["reached"]:
            item["ratio"] = b["minutes"] / a["minutes"]
            if "resolution_minutes" in a or "resolution_minutes" in b:
                # Each crossing lies within its last check interval before the time reported (a side
                # without checks, a whole run, is taken at its time).
                a_res, b_res = a.get("resolution_minutes", 0.0), b.get("resolution_minutes", 0.0)
                item["ratio_range"] = [max(b["minutes"] - b_res, 0.0) / a["minutes"],
                                       b["minutes"] / max(a["minutes"] - a_res, 1e-9)]
        else:  # the sides that missed first, then when the other got there
            sides = sorted(((a, case), (b, baseline)), key=lambda side: side[0]["reached"])
            item["not_reached"] = "; ".join(_reach(row, name, first=index == 0)
                                            for index, (row, name) in enumerate(sides))
    return item


def _reach(row, name, first):
    """One side of a time-to-target comparison in words: when it reached the target, or what it got to."""
    who = row.get("label", name)
    target = row.get("target_text", f"the target {row.get('target', '')}".rstrip()) if first else "it"
    if row["reached"]:
        return f"{who} reaches {target} in {row['minutes']:.2f} min"
    within = (f"within {row['cap_minutes']:g} min (its cap)" if "cap_minutes" in row
              else f"in its whole run ({row['minutes']:.2f} min)")
    best = row.get("best", f"{row['best_score']:.4g}" if "best_score" in row else "not recorded")
    return f"{who} does not reach {target} {within} (best score {best})"


def markdown(results, comparisons, about, minutes=None):
    rows = ["| recipe | case | what | rate | unit | step (s) | peak memory (MB) |",
            "| --- | --- | --- | ---: | --- | ---: | ---: |"]
    targets = ["| recipe | case | what | minutes of training | resolution (s) | checks | reached | peak memory (MB) |",
               "| --- | --- | --- | ---: | ---: | ---: | --- | ---: |"]
    for (recipe, case), row in results.items():
        if "error" in row:
            rows.append(f"| {recipe} | {case} | failed: {row['error']} | | | | |")
        elif "checkpoints" in row:  # equal time: its own tables, below
            continue
        elif "minutes" in row:
            resolution = f"{row['resolution_minutes'] * 60:.2f}" if "resolution_minutes" in row else ""
            checks = str(len(row["checks"])) if "checks" in row else ""
            took = f"{row['minutes']:.2f}" if row["reached"] else (
                f"> {row['cap_minutes']:g} (cap)" if "cap_minutes" in row else f"not within {row['minutes']:.2f}")
            targets.append(f"| {recipe} | {case} | {row['what']} | {took} | {resolution} | {checks} | "
                           f"{'yes' if row['reached'] else 'no'} | {row['peak_memory_mb']:,.0f} |")
        else:
            step = f"{row['step_seconds_median']:.3f}" if "step_seconds_median" in row else ""
            rows.append(f"| {recipe} | {case} | {row['what']} | {row['per_second']:,.1f} | {row['unit']}/s | "
                        f"{step} | {row['peak_memory_mb']:,.0f} |")
    note = ["", ("A time to target is the check that first found the score at the target; the crossing lies "
                 "within the resolution (the last check interval) before it. It counts training only, with "
                 "the clock stopped while a check scores; each case's row says what else it includes or "
                 "leaves out. \"> CAP\": not reached within that cap. A time ratio is given only where "
                 "both sides reached the target.")]
    rows += ([""] + targets + note if len(targets) > 2 else []) + equal_time_tables(results) + [
        "", "| recipe | comparison | ratio | range from the check intervals |", "| --- | --- | ---: | ---: |"]
    for item in comparisons:
        ratio = f"{item['ratio']:.2f}x" if "ratio" in item else "not measured"
        if "not_reached" in item:
            ratio = f"no ratio: {item['not_reached']}"
        span = ""
        if "ratio_range" in item:
            low, high = item["ratio_range"]
            span = f"{low:.2f}x to {high:.2f}x"
        rows.append(f"| {item['recipe']} | {item['what']} | {ratio} | {span} |")
    header = [f"Measured {about['date']} on {about['device']}; Python {about['python']}, "
              + ", ".join(f"{k} {v}" for k, v in about.items() if k in ("tensorflow", "keras")) + "."
              + (f" The whole run took {minutes:.1f} min." if minutes is not None else ""), ""]
    return "\n".join(header + rows) + "\n"


def equal_time_tables(results):
    """Markdown lines for the equal-time cases (rows with checkpoints): each model's size and rates,
    then validation and test nats/char (and the carried ones, where a case has them) at each
    checkpoint side by side, with the baselines."""
    cases = [(recipe, case, row) for (recipe, case), row in results.items() if "checkpoints" in row]
    if not cases:
        return []
    lines = ["", "| recipe | case | what | parameters | steps (cosine to 0) | minutes of training | "
                 "training chars/s | generation chars/s | context when scored | peak memory (MB) |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |"]
    for recipe, case, row in cases:
        last = row["checkpoints"][-1]
        cut = " (cut at the cap)" if row["cut"] else ""
        lines.append(f"| {recipe} | {case} | {row['what']} | {row['parameters']:,} | {last['steps']:,} of "
                     f"{row['total_steps']:,}{cut} | {last['minutes']:.2f} | {row['per_second']:,.0f} | "
                     f"{row['generation']['per_second']:,.1f} ({row['generation']['chars']}, "
                     f"{row['generation']['how']}) | {row['context_scored']} | {row['peak_memory_mb']:,.0f} |")
    # (case, row, the scores it has)
    columns = [(case, row, [key for key in EQUAL_TIME_SCORES if key in row["checkpoints"][0]])
               for _, case, row in cases]
    header = " | ".join(f"{case} {key.replace('_', ', ')}" for case, _, keys in columns for key in keys)
    width = sum(len(keys) for _, _, keys in columns)
    lines += ["", f"| checkpoint (minutes of training) | {header} |", "| ---: |" + " ---: |" * width]
    for index, checkpoint in enumerate(cases[0][2]["checkpoint_minutes"]):
        cells = []
        for _, row, keys in columns:
            found = [c for c in row["checkpoints"] if c["checkpoint"] == checkpoint]
            cells += [f"{found[0][key]:.3f}" for key in keys] if found else ["not reached"] * len(keys)
        lines.append(f"| {checkpoint:g} | " + " | ".join(cells) + " |")
    for name, base in cases[0][2]["baselines"].items():  # on the windowed characters (the carried: all but a few)
        lines.append(f"| {base['label']} (no training time) | " + " | ".join(
            f"{base[key.split('_')[0]]:.3f}" for _, _, keys in columns for key in keys) + " |")
    lines += ["", "Equal time: nats per character on the same characters of the recipe's validation and test "
                  "tails (" + cases[0][2]["scored_characters"] + "), each model with its own context; "
                  "\"carried\": the state carried through contiguous streams of a tail (all but its last few "
                  "characters; the RNN's context_scored says how many streams). Each "
                  "model trains once, its cosine from the peak rate to 0 over the steps a warm-up predicts for "
                  "the budget; the clock stops while a checkpoint scores (not training time)."]
    return lines


def write(out, about, size, results, comparisons, seconds):
    report = {"machine": about, "size": size, "minutes": seconds / 60, "comparisons": comparisons,
              "results": [{"recipe": r, "case": c, **row} for (r, c), row in results.items()]}
    (out / "bench.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out / "bench.md").write_text(markdown(results, comparisons, about, seconds / 60), encoding="utf-8")
    return report


def main(argv=None):
    prog = "python -m benchmarks"
    with reported(prog):
        parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                         formatter_class=argparse.RawDescriptionHelpFormatter)
        parser.add_argument("--only", default="", help=f"comma-separated recipes (default: {', '.join(RECIPES)})")
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
