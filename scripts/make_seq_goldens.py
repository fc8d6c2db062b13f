#!/usr/bin/python3
"""Writes tests/goldens/seq.txt, the PyTorch goldens of the sequence parts (read by
tests/nn/recurrent/seq_golden_test.cpp through tests/support/golden_reader.h, format described in
scripts/make_goldens.py):

  embedding           torch.nn.functional.embedding: the rows and the scatter-added gradient;
  masked_rnn_last     a SimpleRNN over padded sequences with a mask against torch.nn.RNN over
                      packed sequences (pack_padded_sequence): the final states h_n;
  masked_rnn_seq      the same with return_sequences: the outputs at the real steps (pad_packed
                      gives zeros at the padded ones; the C++ side multiplies by the mask);
  bidir_seq           Bidirectional(SimpleRNN) with a mask against a bidirectional torch.nn.RNN
                      over packed sequences (torch reverses each sequence within its length);
  bidir_last_concat, bidir_last_sum
                      the same without return_sequences: both directions' h_n, joined;
  repeat_vector_model RepeatVector -> SimpleRNN(seq) -> Dense per step, mse against a target;
  embedding_masked_model
                      Embedding(mask_zero) -> SimpleRNN -> Dense, mse, on padded ids.

Weights are mapped from Keras' layout to torch's: weight_ih = W^T, weight_hh = U^T, bias_ih = b,
bias_hh = 0; Dense y = x W + b is torch's x @ W + b. Every case is written in float64 and in
float32 (inputs rounded to float32 first). Roles: `input` tensors get a gradient, `value` tensors
(ids, masks, lengths) do not; `seed` is the gradient fed to a non-scalar output.

Run from anywhere: /usr/bin/python3 scripts/make_seq_goldens.py
"""

import os
import subprocess

try:
    import numpy as np
    import torch
except ImportError:  # Debian's packages, as the project's other scripts use
    subprocess.run(["apt-get", "install", "-y", "python3-numpy", "python3-torch"], check=True)
    import numpy as np
    import torch

from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "goldens", "seq.txt")
DTYPES = [("float64", np.float64, torch.float64), ("float32", np.float32, torch.float32)]
LENGTHS = [5, 2, 4]  # three padded sequences of 5 steps


def fmt_line(role, name, array):
    a = np.asarray(array, dtype=np.float64)
    dims = "".join(f" {d}" for d in a.shape)
    values = " ".join(repr(float(v)) for v in a.reshape(-1))
    return f"{role} {name}{dims} : {values}\n"


def mask_of(lengths, steps):
    return np.array([[1.0 if t < n else 0.0 for t in range(steps)] for n in lengths])


def torch_rnn(params, prefix, inputs, hidden, bidirectional):
    """A torch.nn.RNN whose weights are Keras-layout tensors from `params` (kept differentiable)."""
    rnn = torch.nn.RNN(inputs, hidden, batch_first=True, bidirectional=bidirectional)
    suffixes = [("", "")] + ([("_reverse", "b")] if bidirectional else [])
    for suffix, tag in suffixes:
        w, u, b = params[prefix + tag + "W"], params[prefix + tag + "U"], params[prefix + tag + "b"]
        del rnn._parameters["weight_ih_l0" + suffix]
        del rnn._parameters["weight_hh_l0" + suffix]
        del rnn._parameters["bias_ih_l0" + suffix]
        del rnn._parameters["bias_hh_l0" + suffix]
        setattr(rnn, "weight_ih_l0" + suffix, w.t())
        setattr(rnn, "weight_hh_l0" + suffix, u.t())
        setattr(rnn, "bias_ih_l0" + suffix, b)
        setattr(rnn, "bias_hh_l0" + suffix, torch.zeros_like(b))
    rnn._flat_weights = [getattr(rnn, n) for n in rnn._flat_weights_names]
    return rnn


def packed_run(rnn, x, lengths):
    packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=True, enforce_sorted=False)
    out, h_n = rnn(packed)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return out, h_n


def rnn_weights(rng, f, h, tag=""):
    return {tag + "W": rng.normal(0, 0.5, (f, h)), tag + "U": rng.normal(0, 0.4, (h, h)),
            tag + "b": rng.uniform(-0.3, 0.3, (h,))}


CASES = []


def case(name, seed):
    def register(make):
        CASES.append((name, seed, make))
        return make
    return register


@case("embedding", 201)
def _(rng):
    ids = rng.randint(0, 6, size=(3, 4)).astype(np.float64)
    ids[0, 0], ids[2, 3] = 5, 5  # a repeated row collects several gradients
    inputs = dict(weight=rng.uniform(-1, 1, (6, 5)))
    values = dict(ids=ids)
    seed = rng.uniform(-1, 1, (3, 4, 5))

    def fn(t, v):
        return torch.nn.functional.embedding(v["ids"].long(), t["weight"])
    return inputs, values, seed, fn


def padded_x(rng, f):
    x = rng.uniform(-1, 1, (len(LENGTHS), 5, f))
    for i, n in enumerate(LENGTHS):
        x[i, n:, :] = 0.0
    return x


@case("masked_rnn_last", 202)
def _(rng):
    inputs = dict(x=padded_x(rng, 2), **rnn_weights(rng, 2, 4))
    values = dict(mask=mask_of(LENGTHS, 5))
    seed = rng.uniform(-1, 1, (3, 4))

    def fn(t, v):
        _, h_n = packed_run(torch_rnn(t, "", 2, 4, False), t["x"], LENGTHS)
        return h_n[0]
    return inputs, values, seed, fn


@case("masked_rnn_seq", 203)
def _(rng):
    inputs = dict(x=padded_x(rng, 2), **rnn_weights(rng, 2, 4))
    values = dict(mask=mask_of(LENGTHS, 5))
    seed = rng.uniform(-1, 1, (3, 5, 4))

    def fn(t, v):
        out, _ = packed_run(torch_rnn(t, "", 2, 4, False), t["x"], LENGTHS)
        return out
    return inputs, values, seed, fn


def bidir_inputs(rng):
    return dict(x=padded_x(rng, 2), **rnn_weights(rng, 2, 3), **rnn_weights(rng, 2, 3, "b"))


@case("bidir_seq", 204)
def _(rng):
    inputs = bidir_inputs(rng)
    values = dict(mask=mask_of(LENGTHS, 5))
    seed = rng.uniform(-1, 1, (3, 5, 6))

    def fn(t, v):
        out, _ = packed_run(torch_rnn(t, "", 2, 3, True), t["x"], LENGTHS)
        return out
    return inputs, values, seed, fn


@case("bidir_last_concat", 205)
def _(rng):
    inputs = bidir_inputs(rng)
    values = dict(mask=mask_of(LENGTHS, 5))
    seed = rng.uniform(-1, 1, (3, 6))

    def fn(t, v):
        _, h_n = packed_run(torch_rnn(t, "", 2, 3, True), t["x"], LENGTHS)
        return torch.cat([h_n[0], h_n[1]], dim=1)
    return inputs, values, seed, fn


@case("bidir_last_sum", 206)
def _(rng):
    inputs = bidir_inputs(rng)
    values = dict(mask=mask_of(LENGTHS, 5))
    seed = rng.uniform(-1, 1, (3, 3))

    def fn(t, v):
        _, h_n = packed_run(torch_rnn(t, "", 2, 3, True), t["x"], LENGTHS)
        return h_n[0] + h_n[1]
    return inputs, values, seed, fn


@case("repeat_vector_model", 207)
def _(rng):
    inputs = dict(v=rng.uniform(-1, 1, (4, 3)), **rnn_weights(rng, 3, 5),
                  dW=rng.normal(0, 0.5, (5, 1)), db=rng.uniform(-0.3, 0.3, (1,)))
    values = dict(target=rng.uniform(-1, 1, (4, 6, 1)))

    def fn(t, v):
        seq = t["v"].unsqueeze(1).expand(4, 6, 3)
        out, _ = torch_rnn(t, "", 3, 5, False)(seq)
        pred = out @ t["dW"] + t["db"]
        return ((pred - v["target"]) ** 2).mean()
    return inputs, values, None, fn


@case("embedding_masked_model", 208)
def _(rng):
    ids = rng.randint(1, 7, size=(3, 5)).astype(np.float64)
    for i, n in enumerate(LENGTHS):
        ids[i, n:] = 0
    inputs = dict(emb=rng.uniform(-1, 1, (7, 2)), **rnn_weights(rng, 2, 4),
                  dW=rng.normal(0, 0.5, (4, 1)), db=rng.uniform(-0.3, 0.3, (1,)))
    values = dict(ids=ids, target=rng.uniform(-1, 1, (3, 1)))

    def fn(t, v):
        x = torch.nn.functional.embedding(v["ids"].long(), t["emb"])
        _, h_n = packed_run(torch_rnn(t, "", 2, 4, False), x, LENGTHS)
        pred = h_n[0] @ t["dW"] + t["db"]
        return ((pred - v["target"]) ** 2).mean()
    return inputs, values, None, fn


def self_check():
    """torch's packed bidirectional RNN with our mapping equals Keras' scan run on each unpadded
    sequence alone, forwards and backwards, before anything is written."""
    rng = np.random.RandomState(1)
    p = {k: torch.tensor(a) for k, a in bidir_inputs(rng).items()}
    out, h_n = packed_run(torch_rnn(p, "", 2, 3, True), p["x"], LENGTHS)

    def scan(x, tag):
        h = torch.zeros(3, dtype=torch.float64)
        hs = []
        for t in range(x.shape[0]):
            h = torch.tanh(x[t] @ p[tag + "W"] + h @ p[tag + "U"] + p[tag + "b"])
            hs.append(h)
        return torch.stack(hs)

    for i, n in enumerate(LENGTHS):
        fw = scan(p["x"][i, :n], "")
        bw = scan(p["x"][i, :n].flip(0), "b").flip(0)
        assert torch.allclose(out[i, :n], torch.cat([fw, bw], 1), atol=1e-12)
        assert torch.allclose(h_n[0, i], fw[-1], atol=1e-12) and torch.allclose(h_n[1, i], bw[0], atol=1e-12)


def main():
    self_check()
    lines = ["# Written by scripts/make_seq_goldens.py; do not edit.\n"]
    for name, seed, make in CASES:
        for dname, npd, td in DTYPES:
            inputs, values, seed_arr, fn = make(np.random.RandomState(seed))
            inputs = {k: np.asarray(a, dtype=npd).astype(np.float64) for k, a in inputs.items()}
            values = {k: np.asarray(a, dtype=npd).astype(np.float64) for k, a in values.items()}
            t = {k: torch.tensor(a, dtype=td, requires_grad=True) for k, a in inputs.items()}
            v = {k: torch.tensor(a, dtype=td) for k, a in values.items()}
            out = fn(t, v)
            if seed_arr is not None:
                seed_arr = np.asarray(seed_arr, dtype=npd).astype(np.float64)
                (out * torch.tensor(seed_arr, dtype=td)).sum().backward()
            else:
                out.backward()
            lines.append(f"case {name} {dname}\n")
            for k, a in inputs.items():
                lines.append(fmt_line("input", k, a))
            for k, a in values.items():
                lines.append(fmt_line("value", k, a))
            if seed_arr is not None:
                lines.append(fmt_line("seed", "seed", seed_arr))
            lines.append(fmt_line("output", "out", out.detach().to(torch.float64).numpy()))
            for k in inputs:
                g = t[k].grad
                if g is None:
                    g = torch.zeros_like(t[k])
                lines.append(fmt_line("grad", k, g.to(torch.float64).numpy()))
            lines.append("end\n")
    with open(OUT, "w") as f:
        f.writelines(lines)
    print(f"wrote {len(CASES) * len(DTYPES)} cases to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
