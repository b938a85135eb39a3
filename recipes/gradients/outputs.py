"""What a gradients run saves beside its figures: config.json and metrics.json."""
import dataclasses
import json

from shared.report import metrics_json


def output_files(config, metrics):
    """{"config.json": text, "metrics.json": text}: metrics.json by the shared writer, so a gradient that
    overflowed or a NaN loss is written as null, never as NaN or Infinity, which no JSON reader takes."""
    recipe = __name__.split(".")[-2]  # the folder's name, so a copied recipe is its own recipe
    return {"config.json": json.dumps({"recipe": recipe, "config": dataclasses.asdict(config)}, indent=2) + "\n",
            "metrics.json": metrics_json(metrics)}
