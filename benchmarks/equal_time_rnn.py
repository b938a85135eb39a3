"""The recipe's GRU in the equal-time benchmark (benchmarks/equal_time.py): trained the way
`python -m recipes.textgen` trains it, scored with and without the state carried.

Training follows `config.carry_state`, by the steps of equal_time.train_for's cosine:
- False: back-to-back windows of seq_len shuffled every epoch, each from a zero state (data.batches);
- True: `batch_size` contiguous streams of the training part read side by side and in order by a
  stateful model (carried.batches, model.build_language_model(stateful_batch=...)), the state
  zeroed at the first batch of each pass over the streams (carried.ResetStates), as the recipe
  zeroes it at each epoch's start. The model returned is its stateless copy, as the recipe saves.

Scoring at each checkpoint, the checkpoint's weights copied into the one-step model
(model.build_step_model: a stateful model takes batches of batch_size rows only):
- `validation`, `test`: windows of seq_len from a zero state (equal_time.window_nll), on the
  characters every model of the benchmark is scored on;
- `validation_carried`, `test_carried`: the state carried through up to carried.EVAL_STREAMS
  contiguous streams of each tail, as the recipe's carried validation scores (carried.Scorer),
  on the same characters but the last few of each tail (streams - 1 at most: 7 of ~55,700).
"""
import keras

from benchmarks.equal_time import char_loss, run_report, prepare, train_for, window_nll


def checkpoint_scorer(ids, last, seq_len, cell, units, num_layers):
    """score(trained) for train_for: the windowed (windows of seq_len) and the carried nats/char of both
    tails, ids["val"] and ids["test"], each up to its last scored character, last["val"] and last["test"]."""
    from recipes.textgen import carried, model

    made = []  # the step model's Scorer, built at the first checkpoint from the model being trained

    def score(trained):
        if not made:
            made.append(carried.Scorer(model.build_step_model(trained, cell, units, num_layers)))
        scorer = made[0]
        model.copy_weights(trained, scorer.step, num_layers)

        def predict(windows):  # (n, window) -> (n, window, vocab) logits, each window from a zero state
            return scorer.run(windows)[0]

        tails = (("validation", "val"), ("test", "test"))
        scores = {name: window_nll(predict, ids[part], last[part], seq_len, seq_len)
                  for name, part in tails}
        scores.update({f"{name}_carried": scorer.carried(ids[part][: last[part] + 1]) for name, part in tails})
        return scores
    return score


def training_batches(train_ids, seq_len, batch_size, carry_state, seed):
    """(batches(): a fresh endless pipeline of (batch_size, seq_len) pairs, the callbacks its training
    needs, a description), as the recipe trains with or without --carry-state."""
    from recipes.textgen import carried, data

    if not carry_state:
        def windows():  # the recipe's training pipeline: back-to-back windows, shuffled every epoch
            return data.batches(train_ids, seq_len, batch_size, shuffle_seed=seed).repeat()
        return windows, [], f"shuffled windows of {seq_len}, each from a zero state"

    # One pass over the streams per repetition (min_batches 1), so the state is zeroed every `period`
    # batches: at each pass's first batch, where every stream starts again from its beginning.
    _, period = carried.batch_count(train_ids, seq_len, batch_size, min_batches=1)

    def streams():
        return carried.batches(train_ids, seq_len, batch_size, min_batches=1).repeat()
    return streams, [carried.ResetStates(period)], (
        f"carried state: {batch_size} contiguous streams read in order in windows of {seq_len}, "
        f"the state zeroed at each pass ({period} batches)")


def run_rnn(text, config, budget_minutes, checkpoint_minutes, generate_chars=500, callbacks=()):
    """The recipe's model (build_language_model(config)), batches and optimizer, by the budget.

    callbacks run after the training's own (carried.ResetStates): they see each batch's initial state.
    """
    from recipes.textgen import carried, generate, model, speed
    from shared.training import compile_model

    ids, vocab, last, baselines = prepare(text)
    batches, training_callbacks, training = training_batches(ids["train"], config.seq_len, config.batch_size,
                                                             config.carry_state, config.seed)

    def build(decay_steps):
        keras.utils.set_random_seed(config.seed)
        lm = model.build_language_model(config, len(vocab),
                                        stateful_batch=config.batch_size if config.carry_state else None)
        compile_model(lm, lr=config.lr, clipnorm=config.clipnorm, loss=char_loss(), decay_steps=decay_steps)
        return lm

    score = checkpoint_scorer(ids, last, config.seq_len, config.cell, config.units, config.layers)
    lm, run = train_for(build, batches, budget_minutes, checkpoint_minutes, score, config.lr,
                        [*training_callbacks, *callbacks])
    if config.carry_state:
        lm = model.stateless_copy(lm, config, len(vocab))  # what the recipe saves: any batch size, zero state
    generator = generate.Generator(lm, vocab, config.cell, config.units, config.layers)
    prompt = text[0]
    "".join(generator.characters(prompt, 2, 0.8))  # traces the step model before timing
    sample, seconds = speed.time_carried(generator, prompt, generate_chars)
    streams = {part: carried.eval_streams(ids[part][: last[part] + 1]) for part in ("val", "test")}
    return lm, run_report(
        run, lm, baselines, config.batch_size * config.seq_len, generate_chars, seconds, sample,
        what=(f"recipe: {config.cell.upper()}({config.units})" + (f" x{config.layers}" if config.layers > 1 else "")
              + f", embedding {config.embedding_dim}, dropout {config.dropout:g}, batch {config.batch_size}, "
                f"{training}, Adam {config.lr:g}, clipnorm {config.clipnorm:g}"),
        context=(f"validation, test: windows of {config.seq_len} from a zero state (0-{config.seq_len - 1} "
                 f"characters before); validation_carried, test_carried: the state carried through "
                 f"{max(streams.values())} contiguous streams of each tail (all of its stream before)"),
        generation="state carried (the recipe's Generator)")
