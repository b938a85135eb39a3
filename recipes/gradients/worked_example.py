"""The textbook step, by the layer and by hand: h_t = tanh(W x_t + U h_{t-1} + b) from h_0 = 0."""
import keras
import numpy as np

from .model import worked_example_layer

W = np.array([[0.5, 0.2], [0.3, 0.8]])
U = np.array([[0.1, 0.4], [0.6, 0.7]])
b = np.array([0.1, 0.2])
X = np.array([[1.0, 0.0], [0.0, 1.0]])  # x_1 = (1, 0), x_2 = (0, 1)
SLIP = (0.515, 0.942)  # what a well-known write-up prints for h_2


def by_hand():
    """[(pre-activation, h_t)] for t = 1, 2 in float64 numpy."""
    steps, h = [], np.zeros(2)
    for x in X:
        pre = W @ x + U @ h + b
        h = np.tanh(pre)
        steps.append((pre, h))
    return steps


def by_layer():
    """(2, 2): h_1 and h_2 from the shared factory's SimpleRNN with these weights."""
    layer = worked_example_layer(W, U, b)
    return keras.ops.convert_to_numpy(layer(X[None].astype("float32")))[0]


def run():
    """Print both and return them for metrics.json."""
    hand, layer = by_hand(), by_layer()
    print("1. the worked example: a 2-unit SimpleRNN, h_t = tanh(W x_t + U h_(t-1) + b), h_0 = 0")
    print(f"   W = {W.tolist()}, U = {U.tolist()}, b = {b.tolist()}, inputs (1, 0) then (0, 1)")
    for t, ((pre, h), h_layer) in enumerate(zip(hand, layer), start=1):
        print(f"   h{t}: by hand tanh({pre[0]:.4f}, {pre[1]:.4f}) = ({h[0]:.4f}, {h[1]:.4f}); "
              f"by the layer ({h_layer[0]:.4f}, {h_layer[1]:.4f})")
    (pre, h2), gap = hand[1], np.abs(hand[1][1] - np.array(SLIP)).max()
    print(f"   a well-known write-up prints h2 = {SLIP}: an arithmetic slip (off by up to {gap:.3f}); the "
          f"pre-activations are ({pre[0]:.4f}, {pre[1]:.4f}), whose tanh is ({h2[0]:.4f}, {h2[1]:.4f})")
    return {"W": W.tolist(), "U": U.tolist(), "b": b.tolist(), "inputs": X.tolist(),
            "pre_activations": [pre.round(6).tolist() for pre, _ in hand],
            "h_by_hand": [h.round(6).tolist() for _, h in hand],
            "h_by_layer": [[round(float(v), 6) for v in h] for h in layer],
            "slip_in_write_up": list(SLIP)}
