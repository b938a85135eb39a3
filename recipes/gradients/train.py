"""Vanishing and exploding gradients, measured: the worked SimpleRNN example, SimpleRNN / LSTM / GRU
against sequence length with ||dL/dx_t||, gradient clipping, one direction against Bidirectional."""
import dataclasses
import time
from typing import ClassVar

from shared.artifacts import publish
from shared.config import SEED_MAX
from shared.errors import UserError
from shared.run import TrainingRun, option

from . import plots
from .outputs import output_files  # config.json and metrics.json as the run saves them

RECIPE = __name__.split(".")[-2]  # the folder's name, so a copied recipe is its own recipe
CELLS = ("rnn", "lstm", "gru")
ALIASES = {"simplernn": "rnn", "simple": "rnn"}
SMOKE_CAPS = {"steps": 20, "units": 8, "batch_size": 16, "val_size": 64, "bi_length": 20, "explode_length": 20}
SMOKE_MAX_LENGTH = 25  # --smoke: longer --lengths are cut to this


@dataclasses.dataclass
class Config:
    """Many small trainings, not one model: no epochs, early stopping, resume or model file."""

    cells: str = option("rnn,lstm,gru", "recurrent cells to compare, comma-separated (rnn = SimpleRNN)")
    lengths: str = option("10,25,50,100,200", "sequence lengths of the vanishing-gradient task, comma-separated")
    units: int = option(32, "units of every recurrent layer (per direction)", bounds="[1, inf)")
    steps: int = option(600, "most training steps per model; a model stops once it averages 0.99 accuracy "
                             "over its last 50 fresh batches (the exploding runs always take all steps)",
                        bounds="[1, inf)")
    batch_size: int = option(64, "sequences per training step", bounds="[1, inf)")
    lr: float = option(0.01, "Adam learning rate (vanishing, bidirectional, the exploding Adam run)",
                       bounds="(0, inf)")
    gate_init: str = option("chrono", "LSTM/GRU keep-gate bias: chrono (remembers up to T steps from the start) "
                                      "or keras (Keras's defaults)", choices=("chrono", "keras"))
    radius: float = option(3.0, "exploding: spectral radius of the SimpleRNN's recurrent matrix", bounds="(0, inf)")
    explode_length: int = option(20, "exploding: sequence length", bounds="[1, inf)")
    sgd_lr: float = option(0.3, "exploding: SGD learning rate", bounds="(0, inf)")
    clipnorm: float = option(1.0, "exploding: the clipped runs' norm (per variable, and global); "
                                  "0 trains the unclipped runs only", bounds="[0, inf)")
    bi_length: int = option(100, "bidirectional: sequence length", bounds="[2, inf)")
    val_size: int = option(512, "held-out sequences per task and length (drawn from another seed)",
                           bounds="[1, inf)")
    seed: int = option(0, "seed for the batches, the held-out sets and the weights",
                       bounds=f"[0, {SEED_MAX}]")  # what numpy's seeding takes, as in every recipe
    out: str = option("", "output directory (default runs/RECIPE)")
    smoke: bool = option(False, "a seconds-long run: tiny models, few steps, lengths up to 25")

    # What TrainingRun sets up besides: these experiments run on one device in float32.
    mixed_precision: ClassVar[bool] = False
    strategy: ClassVar[str] = "auto"

    def __post_init__(self):
        # Checked while parsing, before the run creates or locks --out: a typo leaves nothing behind.
        self.cells = ",".join(parse_cells(self.cells))
        self.lengths = ",".join(map(str, parse_lengths(self.lengths)))

    def check_given(self, given):
        """Refuse an option the run would ignore (shared.config.parse calls this with the options named)."""
        if "gate_init" in given and not set(parse_cells(self.cells)) & {"lstm", "gru"}:
            raise UserError(f"--gate-init sets LSTM and GRU gate biases; --cells {self.cells} has neither: "
                            "leave out --gate-init or add lstm or gru to --cells")


def parse_cells(text):
    cells = []
    for name in (part.strip().lower() for part in text.split(",") if part.strip()):
        name = ALIASES.get(name, name)
        if name not in CELLS:
            raise UserError(f"--cells: unknown cell {name!r} (choose from {', '.join(CELLS)})")
        if name not in cells:
            cells.append(name)
    if not cells:
        raise UserError("--cells: name at least one cell (rnn, lstm, gru)")
    return cells


def parse_lengths(text):
    lengths = []
    for part in (part.strip() for part in text.split(",") if part.strip()):
        try:
            length = int(part)
        except ValueError:
            raise UserError(f"--lengths: {part!r} is not a whole number (e.g. --lengths 10,50,100)") from None
        if length < 1:
            raise UserError(f"--lengths: {length} is not a sequence length (at least 1)")
        lengths.append(length)
    if not lengths:
        raise UserError("--lengths: give at least one length (e.g. --lengths 10,50,100)")
    return sorted(set(lengths))


def train(run):
    """The four experiments, top to bottom; returns OUT/metrics.json's content."""
    # Imported here, not at the top: they load Keras, and --help and option errors answer before it loads.
    from . import bidirectional, exploding, loop, vanishing, worked_example

    config, started = run.config, time.perf_counter()
    cells, lengths = parse_cells(config.cells), parse_lengths(config.lengths)
    if config.smoke:
        lengths = sorted({min(length, SMOKE_MAX_LENGTH) for length in lengths})
        print("[smoke: tiny models and few steps, not a real result]")
    config.lengths = ",".join(map(str, lengths))  # config.json: what ran
    shared = {"units": config.units, "steps": config.steps, "batch_size": config.batch_size,
              "val_size": config.val_size, "seed": config.seed}
    results = {"worked_example": worked_example.run()}
    results["vanishing"] = vanishing.run(cells, lengths, lr=config.lr, gate_init=config.gate_init, **shared)
    results["exploding"] = exploding.run(length=config.explode_length, radius=config.radius, sgd_lr=config.sgd_lr,
                                         adam_lr=config.lr, clipnorm=config.clipnorm, **shared)
    results["bidirectional"] = bidirectional.run(cells, length=config.bi_length, lr=config.lr,
                                                 gate_init=config.gate_init, **shared)
    metrics = {"recipe": RECIPE, "smoke": config.smoke, **results,
               "seconds": time.perf_counter() - started, "machine": loop.machine()}
    files = {**output_files(config, metrics), **plots.all_figures(results)}
    publish(run.out, files)
    print(f"\nsaved metrics.json, config.json and {len(files) - 2} plots in {run.out}/ "
          f"({metrics['seconds'] / 60:.1f} min)")
    return metrics


def main(argv=None):
    return TrainingRun.main(Config, argv, train, recipe=RECIPE, description=__doc__, smoke=SMOKE_CAPS)
