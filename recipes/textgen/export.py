"""Export a trained character model as a TensorFlow SavedModel: prompts in, the generated text out.

    export --model RUN --to DIR      (RUN: a training run's folder; runs/<this recipe's folder> by default)

    served = tf.saved_model.load(DIR)
    served.serve(prompt=tf.constant(["ROMEO:"]), length=tf.constant(200))["generated"]   # greedy
    served.sample(prompt=..., length=..., temperature=tf.constant(0.8), seed=tf.constant(0))["generated"]

`serve` is greedy: it writes what `generate --temperature 0` writes after the prompt (the characters
after it, not the prompt). `sample` draws each character from softmax(logits / temperature) with
TensorFlow's stateless random numbers: the same seed gives the same text, but not the command's text
(which draws with NumPy); temperature 0 is greedy. An empty prompt starts from the training text's
first character, as the command does without --prompt; a prompt with a character the model never
saw gives an empty string (the command refuses it). The recurrent state is carried from step to
step in the graph, one character at a time, prompts of different lengths in one batch.
"""
from shared.export import ENDPOINT, export_main, string_table

RECIPE = __name__.split(".")[-2]


def archive(model_dir):
    """An ExportArchive with `serve` (prompt, length) and `sample` (prompt, length, temperature, seed)."""
    import keras
    import tensorflow as tf

    from .generate import load

    generator, saved = load(model_dir)
    vocab, step = generator.vocab, generator.step
    char_ids = string_table(vocab, list(range(len(vocab))), -1, "characters")
    start = vocab.index(saved["start"])

    def generate(prompt, length, temperature, seed):
        """(batch,) prompts -> (batch,) the `length` characters after each; temperature 0 is greedy."""
        chars = tf.strings.unicode_split(prompt, "UTF-8")  # (batch, None) one string per character
        ids = tf.cast(char_ids.lookup(chars), tf.int32)
        refused = tf.reduce_any(ids < 0, axis=1)  # a character the model never saw
        count, batch = tf.cast(ids.row_lengths(), tf.int32), tf.shape(prompt)[0]
        usable = (count > 0) & ~refused
        width = tf.maximum(tf.reduce_max(count), 1) + 1  # and a column to read past every prompt
        given = tf.where(usable[:, None], ids.to_tensor(start, shape=tf.stack([batch, width])), start)  # (batch, P + 1)
        count = tf.where(usable, count, 1)  # an empty or refused prompt: the start character alone
        longest = tf.reduce_max(count)
        steps = longest + tf.maximum(length, 1) - 1  # the longest prompt, then length - 1 more steps

        def body(t, previous, chosen, *states):
            # Row b reads its prompt for t < count[b], then the character it chose last.
            current = tf.where(t < count, given[:, tf.minimum(t, width - 1)], previous)
            logits, *states = step([current[:, None], *states], training=False)  # (batch, 1, vocab)
            logits = logits[:, 0]
            greedy = tf.argmax(logits, axis=1, output_type=tf.int32)
            drawn = tf.random.stateless_categorical(logits / tf.maximum(temperature, 1e-6), 1,
                                                    seed=tf.stack([seed, tf.cast(t, tf.int64)]), dtype=tf.int32)
            chosen_now = tf.where(tf.equal(temperature, 0.0), greedy, drawn[:, 0])
            return (t + 1, chosen_now, chosen.write(t, chosen_now), *states)

        states = [tf.zeros([batch, shape[1]]) for shape in generator.state_shapes]
        chosen = tf.TensorArray(tf.int32, size=0, dynamic_size=True, element_shape=[None])
        _, _, chosen, *_ = tf.while_loop(lambda t, *_: t < steps, body,
                                         (0, tf.fill([batch], start), chosen, *states))
        chosen = tf.transpose(chosen.stack())  # (batch, steps): the character after each step's input
        # Row b's text: what it chose from its prompt's last character on.
        picked = tf.gather(chosen, (count - 1)[:, None] + tf.range(tf.maximum(length, 0))[None, :], batch_dims=1)
        text = tf.strings.reduce_join(tf.gather(tf.constant(vocab), picked), axis=1)
        return {"generated": tf.where(refused, tf.constant(""), text)}

    def serve(prompt, length):
        return generate(prompt, length, tf.constant(0.0), tf.constant(0, tf.int64))

    exported = keras.export.ExportArchive()
    exported.track(step)
    exported.track(char_ids)
    prompt, length = tf.TensorSpec([None], tf.string, name="prompt"), tf.TensorSpec([], tf.int32, name="length")
    exported.add_endpoint(ENDPOINT, serve, input_signature=[prompt, length])
    exported.add_endpoint("sample", generate, input_signature=[
        prompt, length, tf.TensorSpec([], tf.float32, name="temperature"), tf.TensorSpec([], tf.int64, name="seed")])
    return exported


def main(argv=None):
    return export_main(RECIPE, argv, __doc__, archive)
