"""Export a trained classifier as a TensorFlow SavedModel: raw strings in, class probabilities and names out.

    python -m recipes.classify export --model runs/classify --to runs/classify_export

    import tensorflow as tf
    served = tf.saved_model.load("runs/classify_export")   # keep it in a variable while serving
    result = served.serve(tf.constant(["An absolute joy to watch."]))
    result["probabilities"], result["label"], result["classes"]   # (batch, classes), (batch,), (classes,)

The text standardisation, the vocabulary and the class names travel in the graph.
"""
from shared.export import ENDPOINT, export_main
from shared.inference import load_run

RECIPE = __name__.split(".")[-2]


def archive(model_dir):
    """An ExportArchive whose `serve` takes texts (batch,) tf.string."""
    import keras
    import tensorflow as tf

    from .config import Config

    text_classifier, _, saved = load_run(model_dir, RECIPE, "classes.json", config_class=Config)
    classes = tf.constant(saved["classes.json"])  # (classes,) the names, in the model's output order
    exported = keras.export.ExportArchive()
    exported.track(text_classifier)  # its TextVectorization's lookup table travels with it

    def serve(texts):
        probabilities = text_classifier(texts, training=False)  # (batch, classes)
        return {"probabilities": probabilities, "label": tf.gather(classes, tf.argmax(probabilities, axis=-1)),
                "classes": classes}
    exported.add_endpoint(ENDPOINT, serve, input_signature=[tf.TensorSpec([None], tf.string, name="texts")])
    return exported


def main(argv=None):
    return export_main(RECIPE, argv, __doc__, archive)
