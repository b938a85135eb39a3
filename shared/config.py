"""One dataclass of settings per recipe, the command line derived from it, saved as JSON.

A recipe declares its settings once:

    @dataclass
    class Config(TrainConfig):
        units: int = option(64, "units per recurrent layer", bounds="[1, inf)")

and `parse(Config, argv, recipe="sentiment")` gives a validated instance, with
`--units N` on the command line, unknown or ill-typed options rejected in one line.
"""
import argparse
import dataclasses
import json
import math
import typing
from pathlib import Path

from shared.errors import UserError

STRATEGIES = ("auto", "mirrored", "multiworker")  # --strategy: shared.device makes each
SEED_MAX = 2**32 - 1


def option(default, help, *, choices=None, bounds=None):
    """A config field: its default, its --help text, allowed choices, numeric bounds like "[0, 1)"."""
    return dataclasses.field(
        default=default, metadata={"help": help, "choices": choices, "bounds": bounds}
    )


@dataclasses.dataclass
class TrainConfig:
    """Settings every recipe's training shares; recipes subclass and override defaults."""

    epochs: int = option(10, "maximum passes over the training data", bounds="[1, inf)")
    batch_size: int = option(128, "examples per batch (per device)", bounds="[1, inf)")
    lr: float = option(1e-3, "Adam learning rate", bounds="(0, inf)")
    clipnorm: float = option(
        1.0, "clip each variable's gradient to this L2 norm; 0 turns clipping off", bounds="[0, inf)"
    )
    lr_schedule: str = option("constant", "learning rate: constant, or cosine decay to 0 over all epochs",
                              choices=("constant", "cosine"))
    patience: int = option(2, "stop after this many epochs without a lower validation loss", bounds="[1, inf)")
    seed: int = option(0, "seed for shuffling, splits and weight initialisation",
                       bounds=f"[0, {SEED_MAX}]")  # what numpy's seeding takes
    mixed_precision: bool = option(False, "float16 compute on GPU (bfloat16 on CPU), float32 outputs")
    strategy: str = option("auto", "devices to train on: auto (mirrored when this machine has several GPUs), "
                                   "mirrored (every local GPU), multiworker (the machines in TF_CONFIG)",
                           choices=STRATEGIES)
    out: str = option("", "output directory (default runs/RECIPE); a killed run resumes from it")
    smoke: bool = option(False, "a seconds-long run on a small slice, for tests and first contact")


def check_bounds(name, value, bounds):
    """A one-line UserError unless `value` lies in `bounds` ("[0, 1)", "[1, inf)"); a NaN never does. Also for
    the numeric options of commands that take no config class (generate, speed, translate)."""
    lo_brace, lo, hi, hi_brace = bounds[0], *bounds[1:-1].split(","), bounds[-1]
    lo, hi = float(lo), float(hi.strip())
    ok = (value >= lo if lo_brace == "[" else value > lo) and (value <= hi if hi_brace == "]" else value < hi)
    if not ok or (isinstance(value, float) and math.isnan(value)):
        raise UserError(f"--{name.replace('_', '-')} must be in {bounds}, got {value}")


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # argparse prints usage and exits; we want one line and exit status 2 like every other mistake.
        raise UserError(message)


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Each option's default after its help, except empty ones ("(default: )" says nothing)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default in ("", None, argparse.SUPPRESS) or "%(default)" in text or action.option_strings == []:
            return text
        return text + " (default: %(default)s)"


def build_parser(cls, prog, description=None, epilog=None):
    parser = _Parser(prog=prog, description=description, epilog=epilog, allow_abbrev=False,
                     formatter_class=_HelpFormatter)
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        flag = "--" + field.name.replace("_", "-")
        kind = hints[field.name]
        meta = field.metadata
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=field.default, help=meta.get("help"))
        else:
            parser.add_argument(flag, type=kind, default=field.default, choices=meta.get("choices"),
                                metavar=None if meta.get("choices") else field.name.upper(), help=meta.get("help"))
    return parser


def command_parser(prog, description=None):
    """A parser for commands that are not training (predict, generate): same one-line errors."""
    return _Parser(prog=prog, description=description, allow_abbrev=False, formatter_class=_HelpFormatter)


def parse(cls, argv, *, recipe, description=None, epilog=None, prog=None):
    """Parse argv (None: sys.argv) into a validated cls; `out` defaults to runs/RECIPE."""
    parser = build_parser(cls, prog or f"python -m recipes.{recipe}", description, epilog)
    if "out" in {field.name for field in dataclasses.fields(cls)}:
        parser.set_defaults(out=None)  # None: --out left out; "" given explicitly is a mistake
    args = parser.parse_args(argv)
    if getattr(args, "out", None) is not None and not args.out.strip():
        raise UserError(f"--out {args.out!r}: empty; give a folder, or leave --out out for runs/{recipe}")
    if getattr(args, "out", "") is None:
        args.out = ""
    config = cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})
    validate(config)
    if hasattr(config, "check_given"):  # options that would be ignored beside others: refused, never dropped
        config.check_given(given_options(cls, argv))
    if not config.out:
        config.out = str(Path("runs") / recipe)
    return config


def given_options(cls, argv):
    """The names of cls's fields that argv sets itself (a default cannot tell `--ticker GOOG` from nothing)."""
    parser, unset = build_parser(cls, ""), object()  # an object, not a string: argparse converts string defaults
    parser.set_defaults(**{field.name: unset for field in dataclasses.fields(cls)})
    return {name for name, value in vars(parser.parse_args(argv)).items() if value is not unset}


def validate(config):
    for field in dataclasses.fields(config):
        bounds = field.metadata.get("bounds")
        if bounds:
            check_bounds(field.name, getattr(config, field.name), bounds)
    held_out = getattr(config, "val_fraction", 0) + getattr(config, "test_fraction", 0)
    if held_out >= 1:
        raise UserError(f"--val-fraction {config.val_fraction} and --test-fraction {config.test_fraction} add up "
                        f"to {held_out:g}: they must add up to less than 1, to leave data for training")


def to_json(config, recipe):
    return json.dumps({"recipe": recipe, "config": dataclasses.asdict(config)}, indent=2) + "\n"


def load_saved(model_dir, recipe):
    """The config saved beside a model; a UserError if the folder is no model of this recipe."""
    path = Path(model_dir) / "config.json"
    if not Path(model_dir).is_dir():
        raise UserError(f"{model_dir}: no such model directory")
    if not path.is_file() or not (Path(model_dir) / "model.keras").is_file():
        raise UserError(f"{model_dir}: not a model directory (expected config.json and model.keras from a finished run)")
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        found = saved["recipe"]
    except (ValueError, KeyError, TypeError):
        raise UserError(f"{path}: not a recipe config (expected JSON with 'recipe' and 'config')") from None
    if found != recipe:
        raise UserError(f"{model_dir}: model of recipe '{found}', not '{recipe}'")
    return saved["config"]
