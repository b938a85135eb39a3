"""Time generation with a carried state against re-running the whole window for every new character.

Carrying the state costs one step per character, so generating n characters costs O(n).
Without a state, the model must re-read everything so far to predict each character:
1 + 2 + ... + n steps, O(n^2). Both call the model directly, on the same text.
Keras is imported inside the functions that use it: the command's --help and option errors
answer before TensorFlow loads.
"""
import json
import time
from pathlib import Path

from shared.config import command_parser
from shared.errors import UserError, reported
from shared.inference import compiled

from . import generate

RECIPE = __name__.split(".")[-2]


def time_carried(generator, prompt, length, seed=0):
    """(generated text, seconds) for `length` characters at temperature 0.8, one step each."""
    started = time.perf_counter()
    text = "".join(generator.characters(prompt, length, 0.8, 0, seed))
    return text, time.perf_counter() - started


def time_window(window_call, ids, first, every=1):
    """Seconds to predict characters first..len(ids)-1, each from a fresh pass over all earlier ones.

    A pass costs the same for any text of the same length, so with every > 1 only every
    `every`-th pass is timed and the sum scaled up (an estimate, said so in the report).
    """
    from keras import ops

    total, timed = 0.0, 0
    for end in range(first, len(ids), every):
        started = time.perf_counter()
        ops.convert_to_numpy(window_call(ids[None, :end])[0, -1])  # (vocab,) next-char logits
        total += time.perf_counter() - started
        timed += 1
    return total * (len(ids) - first) / timed


def measure(generator, trained, prompt, length, every=1, seed=0):
    """One row of the speed table for `length` new characters."""
    window_call = compiled(trained, [((1, None), "int32")])  # the same kind of call as the generator's
    "".join(generator.characters(prompt, 2, 0.8))  # trace both graphs before timing
    window_call(generator.encode(prompt)[None])
    text, carried = time_carried(generator, prompt, length, seed)
    ids = generator.encode(prompt + text)
    window = time_window(window_call, ids, len(prompt), every)
    return {"length": length, "carried_seconds": carried, "carried_chars_per_second": length / carried,
            "window_seconds": window, "window_chars_per_second": length / window,
            "ratio": window / carried, "window_timed_every": every}


def main(argv=None):
    prog = f"python -m recipes.{RECIPE} speed"
    with reported(prog):
        parser = command_parser(prog, __doc__)
        parser.add_argument("--model", required=True, help="output folder of a training run")
        parser.add_argument("--prompt", default="ROMEO:", help="text to start from")
        parser.add_argument("--lengths", type=int, nargs="+", default=[200, 2000], help="characters to generate")
        parser.add_argument("--every", type=int, default=0,
                            help="time every k-th window pass and scale (0: all up to 500 characters, else 10)")
        parser.add_argument("--out", help="also write the table as JSON to this file")
        args = parser.parse_args(argv)
        if min(args.lengths) <= 0:
            raise UserError(f"--lengths must be at least 1, got {min(args.lengths)}")
        if args.every < 0:
            raise UserError(f"--every must be 0 (automatic) or more, got {args.every}")
        if not args.prompt:
            raise UserError("--prompt is empty; the timing needs at least one character to start from")
        generator, _ = generate.load(args.model)
        trained = generator.trained
        rows = []
        print(f"{'chars':>6} {'carried chars/s':>16} {'window chars/s':>15} {'ratio':>7}")
        for length in args.lengths:
            every = args.every or (1 if length <= 500 else 10)
            row = measure(generator, trained, args.prompt, length, every)
            rows.append(row)
            note = "" if every == 1 else f"  (window: every {every}th pass timed, sum scaled)"
            print(f"{length:>6} {row['carried_chars_per_second']:>16.0f} {row['window_chars_per_second']:>15.1f} "
                  f"{row['ratio']:>6.1f}x{note}")
        if args.out:
            Path(args.out).write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
        return rows
