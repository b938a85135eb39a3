"""Generate text from a saved model, one character at a time, carrying the recurrent state.

Temperature T divides the logits before the softmax: T < 1 sharpens the distribution,
T > 1 flattens it, T = 0 means greedy (always the most likely character). Top-k keeps
the k most likely characters, renormalised, and never emits any other. Top-p (nucleus
sampling, Holtzman et al. 2020) keeps the smallest set of most likely characters whose
probabilities (after temperature and top-k) add up to at least p, renormalised.
Keras is imported inside the functions that use it: the command's --help and option errors
answer before TensorFlow loads.
"""
import sys

import numpy as np

from shared.config import SEED_MAX, check_bounds, command_parser
from shared.errors import UserError, reported
from shared.inference import compiled, load_run, state_count
from shared.progress import Progress, is_terminal

from . import data
from .config import Config

RECIPE = __name__.split(".")[-2]
ADDED = {"carry_state": False}  # settings newer than some saved runs: what those runs did


def distribution(logits, temperature=1.0, top_k=0, top_p=1.0):
    """Probabilities to sample the next character from: softmax(logits / T), cut to the top k, then to the
    nucleus: the fewest most likely characters whose probabilities add up to at least top_p."""
    logits = np.asarray(logits, dtype="float64")
    if temperature == 0:  # greedy: all the mass on the first most likely character
        probabilities = np.zeros_like(logits)
        probabilities[int(np.argmax(logits))] = 1.0
        return probabilities
    scaled = logits / temperature
    if 0 < top_k < len(logits):
        keep = np.argsort(-logits, kind="stable")[:top_k]
        mask = np.full_like(scaled, -np.inf)
        mask[keep] = 0.0
        scaled = scaled + mask
    scaled -= scaled.max()
    probabilities = np.exp(scaled)
    probabilities /= probabilities.sum()
    if top_p < 1:
        order = np.argsort(-probabilities, kind="stable")  # most likely first; ties by id
        # Characters before the first whose running sum reaches top_p, and that one (the 1e-12 spares a
        # set whose sum is p but rounds just below it).
        kept = order[: int(np.searchsorted(np.cumsum(probabilities[order]), top_p - 1e-12)) + 1]
        nucleus = np.zeros_like(probabilities)
        nucleus[kept] = probabilities[kept]
        probabilities = nucleus / nucleus.sum()
    return probabilities


class Generator:
    """The trained network turned into a step function: (character ids, states) -> (logits, states)."""

    def __init__(self, trained, vocab, cell, units, num_layers):
        from . import model

        self.vocab = list(vocab)
        self.trained = trained  # the whole-window model, as saved
        self.step = model.build_step_model(trained, cell, units, num_layers)
        self.state_shapes = [(1, units)] * (num_layers * state_count(cell))
        self.call = compiled(self.step, [((1, None), "int32")] + [(shape, "float32") for shape in self.state_shapes])

    def feed(self, ids, states=None):
        """Run `ids` (a 1-D sequence) from `states` (None: zeros); (logits (time, vocab), new states)."""
        from keras import ops

        if states is None:
            states = [ops.zeros(shape, dtype="float32") for shape in self.state_shapes]
        ids = ops.convert_to_tensor(np.asarray(ids, dtype="int32")[None, :])  # (1, time)
        logits, *states = self.call(ids, *states)
        return ops.convert_to_numpy(logits)[0], states

    def encode(self, prompt):
        unknown = sorted({char for char in prompt if char not in self.vocab})
        if unknown:
            raise UserError(f"the prompt has characters the model never saw: {' '.join(map(repr, unknown))} "
                            f"(its vocabulary: {''.join(self.vocab)!r})")
        return data.encode(prompt, self.vocab)

    def characters(self, prompt, length, temperature=1.0, top_k=0, seed=0, top_p=1.0):
        """Yield `length` new characters; the prompt is read in one call, then one step per character."""
        rng = np.random.default_rng(seed)
        logits, states = self.feed(self.encode(prompt))
        for position in range(length):
            index = rng.choice(len(self.vocab), p=distribution(logits[-1], temperature, top_k, top_p))
            yield self.vocab[index]
            if position + 1 < length:  # the last character needs no prediction after it
                logits, states = self.feed([index], states)


def greedy_steps(generator, prompt, steps):
    """(prompt + greedy continuation, [(context, probabilities over vocab)] for each step)."""
    logits, states = generator.feed(generator.encode(prompt))
    text, rows = prompt, []
    for _ in range(steps):
        probabilities = distribution(logits[-1], 1.0)
        rows.append((text, probabilities))
        index = int(np.argmax(probabilities))
        text += generator.vocab[index]
        logits, states = generator.feed([index], states)
    return text, rows


def stream(generator, prompt, length, temperature, top_k=0, seed=0, out=None, top_p=1.0):
    """Print the prompt and then each character as soon as it is chosen; returns the new text.

    When `out` is no terminal (a file, a pipe), a count goes to stderr past a few seconds.
    """
    out = out or sys.stdout
    progress = None if is_terminal(out) else Progress(length, "characters", f"python -m recipes.{RECIPE} generate")
    out.write(prompt)
    chosen = []
    for char in generator.characters(prompt, length, temperature, top_k, seed, top_p):
        out.write(char)
        out.flush()
        chosen.append(char)
        if progress:
            progress.update()
    out.write("\n")
    if progress:
        progress.done()
    return "".join(chosen)


def load(model_dir):
    """(Generator, saved vocabulary file) for a training run's output folder; refuses other recipes' models."""
    trained, config, files = load_run(model_dir, RECIPE, "vocab.json", config_class=Config, added=ADDED)
    saved = files["vocab.json"]
    return Generator(trained, saved["vocabulary"], config["cell"], config["units"], config["layers"]), saved


def main(argv=None):
    prog = f"python -m recipes.{RECIPE} generate"
    with reported(prog):
        parser = command_parser(prog, __doc__)
        parser.add_argument("--model", required=True, help="output folder of a training run")
        parser.add_argument("--prompt", help="text to start from (default: the training text's first character)")
        parser.add_argument("--length", type=int, default=500, help="characters to generate")
        parser.add_argument("--temperature", type=float, default=0.8, help="sampling temperature; 0 = greedy")
        parser.add_argument("--top-k", type=int, default=0, help="sample only among the k most likely (0: all)")
        parser.add_argument("--top-p", type=float, default=1.0,
                            help="sample only among the fewest most likely whose probabilities add up to p (1: all)")
        parser.add_argument("--seed", type=int, default=0, help=f"same seed, same text (0 to {SEED_MAX})")
        args = parser.parse_args(argv)
        if args.length <= 0:
            raise UserError(f"--length must be at least 1, got {args.length}")
        if not args.temperature >= 0:
            raise UserError(f"--temperature must be 0 (greedy) or more, got {args.temperature}")
        if args.top_k < 0:
            raise UserError(f"--top-k must be 0 (off) or more, got {args.top_k}")
        if not 0 < args.top_p <= 1:
            raise UserError(f"--top-p must be in (0, 1] (1: off), got {args.top_p}")
        check_bounds("seed", args.seed, f"[0, {SEED_MAX}]")  # what numpy's seeding takes, as in training
        if args.prompt == "":
            raise UserError("--prompt is empty; leave it out to start from the training text's first character")
        generator, saved = load(args.model)
        prompt = saved["start"] if args.prompt is None else args.prompt
        generator.encode(prompt)  # an unknown character fails here, before any output
        return stream(generator, prompt, args.length, args.temperature, args.top_k, args.seed, top_p=args.top_p)
