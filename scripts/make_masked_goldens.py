#!/usr/bin/python3
"""Writes tests/goldens/masked.txt: Embedding(mask_zero) -> SimpleRNN or LSTM -> Dense(1) logits
with binary cross-entropy (the sentiment example's model), on padded token ids, against PyTorch
running every sequence alone without its padding; read by tests/nn/layers/masked_embedding_test.cpp.

Keras' masking promises that a padded sequence gives what the sequence alone gives: a masked step
keeps the states, so padding in front (Keras' pad_sequences default, "pre") or behind ("post")
changes nothing. PyTorch has no mask, so the reference here does not pad at all: sequence i, its
ids without the zeros, goes through torch.nn.functional.embedding and torch.nn.RNN / torch.nn.LSTM
alone, its last state through the Dense layer; the loss is
torch.nn.functional.binary_cross_entropy_with_logits (mean over the batch). Every gradient
(embedding table, cell, Dense) is PyTorch's of that loss.

Cases (a batch of 5 sequences of 1 to 12 ids over a vocabulary of 10, id 0 the padding):
  emb_rnn_pre, emb_rnn_post     Embedding(10, 4) -> SimpleRNN(6) -> Dense(1)
  emb_lstm_pre, emb_lstm_post   Embedding(10, 4) -> LSTM(5) -> Dense(1)
Weights in Keras' layout: emb [V, D], W [D, u or 4u], U [u, u or 4u], b [u or 4u], dW [u, 1],
db [1]; torch gets weight_ih = W^T, weight_hh = U^T, bias_ih = b, bias_hh = 0 (nn/recurrent/lstm.h: the
gate blocks i, f, c, o are PyTorch's i, f, g, o). Values: ids [5, 12], labels [5, 1].

Written in float64 and float32 (inputs rounded to float32 first), in the format of
tests/support/golden_reader.h (see scripts/make_goldens.py). Run: /usr/bin/python3 scripts/make_masked_goldens.py
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_goldens import DTYPES, OUT, fmt_line, to_numpy, np, torch  # noqa: E402

VOCAB, DIM, STEPS = 10, 4, 12
LENGTHS = [12, 1, 7, 3, 9]  # one full sequence, one of a single id


def torch_layer(kind, t, units):
    """torch.nn.RNN or torch.nn.LSTM holding the Keras-layout tensors of `t` (kept differentiable)."""
    layer = (torch.nn.RNN if kind == "rnn" else torch.nn.LSTM)(DIM, units, batch_first=True)
    for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
        del layer._parameters[name]
    layer.weight_ih_l0 = t["W"].t()
    layer.weight_hh_l0 = t["U"].t()
    layer.bias_ih_l0 = t["b"]
    layer.bias_hh_l0 = torch.zeros_like(t["b"])
    layer._flat_weights = [getattr(layer, n) for n in layer._flat_weights_names]
    return layer


def reference_loss(kind, units, t, seqs, labels):
    """Each sequence alone (no padding, no mask), its last state through Dense, mean BCE on logits."""
    layer = torch_layer(kind, t, units)
    last = []
    for s in seqs:
        x = torch.nn.functional.embedding(torch.tensor(s).long().unsqueeze(0), t["emb"])  # [1, n, D]
        out, _ = layer(x)
        last.append(out[0, -1])
    logits = torch.stack(last) @ t["dW"] + t["db"]  # [B, 1]
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)


def make_case(kind, pad, seed):
    rng = np.random.RandomState(seed)
    units = 6 if kind == "rnn" else 5
    gates = 1 if kind == "rnn" else 4
    seqs = [rng.randint(1, VOCAB, size=n) for n in LENGTHS]
    ids = np.zeros((len(LENGTHS), STEPS))
    for i, s in enumerate(seqs):
        start = STEPS - len(s) if pad == "pre" else 0
        ids[i, start:start + len(s)] = s
    labels = rng.randint(0, 2, size=(len(LENGTHS), 1)).astype(np.float64)
    inputs = dict(emb=rng.uniform(-1, 1, (VOCAB, DIM)), W=rng.normal(0, 0.5, (DIM, gates * units)),
                  U=rng.normal(0, 0.4, (units, gates * units)), b=rng.uniform(-0.3, 0.3, (gates * units,)),
                  dW=rng.normal(0, 0.5, (units, 1)), db=rng.uniform(-0.3, 0.3, (1,)))
    return units, seqs, inputs, dict(ids=ids, labels=labels)


CASES = [("emb_rnn_pre", "rnn", "pre", 301), ("emb_rnn_post", "rnn", "post", 301),
         ("emb_lstm_pre", "lstm", "pre", 302), ("emb_lstm_post", "lstm", "post", 302)]


def self_check():
    """The reference's torch.nn.LSTM with our mapping equals Keras' LSTM equations step by step."""
    units, seqs, inputs, _ = make_case("lstm", "pre", 302)
    t = {k: torch.tensor(a) for k, a in inputs.items()}
    layer = torch_layer("lstm", t, units)
    for s in seqs:
        x = torch.nn.functional.embedding(torch.tensor(s).long(), t["emb"])  # [n, D]
        h = torch.zeros(units, dtype=torch.float64)
        c = torch.zeros_like(h)
        for step in x:
            z = step @ t["W"] + h @ t["U"] + t["b"]
            i, f, g, o = (torch.sigmoid(z[:units]), torch.sigmoid(z[units:2 * units]),
                          torch.tanh(z[2 * units:3 * units]), torch.sigmoid(z[3 * units:]))
            c = f * c + i * g
            h = o * torch.tanh(c)
        out, _ = layer(x.unsqueeze(0))
        assert torch.allclose(out[0, -1], h, atol=1e-12)


def main():
    self_check()
    lines = ["# Written by scripts/make_masked_goldens.py; do not edit.\n"]
    for name, kind, pad, seed in CASES:
        for dname, npd, td in DTYPES:
            units, seqs, inputs, values = make_case(kind, pad, seed)
            inputs = {k: np.asarray(a, dtype=npd).astype(np.float64) for k, a in inputs.items()}
            t = {k: torch.tensor(a, dtype=td, requires_grad=True) for k, a in inputs.items()}
            loss = reference_loss(kind, units, t, seqs, torch.tensor(values["labels"], dtype=td))
            loss.backward()
            lines.append(f"case {name} {dname}\n")
            for k, a in inputs.items():
                lines.append(fmt_line("input", k, a))
            for k, a in values.items():
                lines.append(fmt_line("value", k, a))
            lines.append(fmt_line("output", "loss", to_numpy(loss)))
            for k in inputs:
                lines.append(fmt_line("grad", k, to_numpy(t[k].grad)))
            lines.append("end\n")
    path = os.path.join(OUT, "masked.txt")
    with open(path, "w") as f:
        f.writelines(lines)
    print(f"wrote {len(CASES) * len(DTYPES)} cases to {os.path.normpath(path)}")


if __name__ == "__main__":
    main()
