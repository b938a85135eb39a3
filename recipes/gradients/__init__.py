"""Vanishing and exploding gradients, measured: a worked SimpleRNN step, SimpleRNN / LSTM / GRU,
clipping, Bidirectional."""
