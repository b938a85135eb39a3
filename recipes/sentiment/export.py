"""Export a trained sentiment model as a TensorFlow SavedModel: raw review strings in, probabilities out.

    export --model RUN_DIR --to EXPORT_DIR

    import tensorflow as tf
    served = tf.saved_model.load(EXPORT_DIR)
    served.serve(tf.constant(["An absolute joy to watch."]))["probability"]   # (batch,) P(positive)

The signature is the saved model's own: the text standardisation and the vocabulary travel in the graph.
"""
from shared.export import ENDPOINT, export_main
from shared.inference import load_run

RECIPE = __name__.split(".")[-2]


def archive(model_dir):
    """An ExportArchive whose `serve` takes reviews (batch,) tf.string and returns probability (batch,)."""
    import keras
    import tensorflow as tf

    from . import data, model  # noqa: F401  register the standardizer and layers the saved model names
    from .config import Config

    sentiment_model, _, _ = load_run(model_dir, RECIPE, config_class=Config)
    exported = keras.export.ExportArchive()
    exported.track(sentiment_model)  # its TextVectorization's lookup table travels with it

    def serve(reviews):  # (batch,) raw strings, HTML and all, as predict takes them
        return {"probability": sentiment_model(reviews, training=False)[:, 0]}  # (batch,)
    exported.add_endpoint(ENDPOINT, serve, input_signature=[tf.TensorSpec([None], tf.string, name="reviews")])
    return exported


def main(argv=None):
    return export_main(RECIPE, argv, __doc__, archive)
