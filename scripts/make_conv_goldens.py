#!/usr/bin/python3
"""Writes tests/goldens/conv.txt, the PyTorch goldens of Conv1D, LayerNormalization and the
layer-normalised SimpleRNN cell, checked by tests/ops/conv_golden_test.cpp. Format and
tolerances as scripts/make_goldens.py (tests/support/golden_reader.h): each case in float64 and float32,
inputs from numpy's RandomState with a fixed seed per case, the forward output and the gradient
of every input for a random seed gradient.

Layouts. tapegrad follows Keras: x [B, T, F], kernel [K, F, O], bias [O], output [B, T', O].
torch.nn.functional.conv1d wants channels first, x [B, F, T], and weight [O, F, K]
(torch.nn.Conv1d's layout), with symmetric padding only. So each case computes
    y = conv1d(pad(x.permute(0, 2, 1), (pad_left, pad_right)), kernel.permute(2, 1, 0), bias,
               stride, dilation).permute(0, 2, 1)
with the padding that Keras' `padding=` gives:
    valid   (0, 0)
    causal  (span - 1, 0), span = (K - 1) * dilation + 1
    same    TensorFlow's SAME: out = ceil(T / stride), total = max((out - 1) * stride + span - T, 0),
            (total // 2, total - total // 2)
The padding is computed here independently of the C++ layer, which the test runs by mode name.

LayerNormalization: Keras' (last axis, biased variance, epsilon 1e-3) is
torch.nn.functional.layer_norm(x, (D,), gamma, beta, eps=1e-3).
LNSimpleRNNCell (Géron, ch. 15): h_t = tanh(layer_norm(x_t W + b + h_{t-1} U)), h_0 = 0.

Run from anywhere: /usr/bin/python3 scripts/make_conv_goldens.py
"""

import os

import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "goldens")
DTYPES = [("float64", np.float64, torch.float64), ("float32", np.float32, torch.float32)]


def fmt_line(role, name, array):
    a = np.asarray(array, dtype=np.float64)
    dims = "".join(f" {d}" for d in a.shape)
    values = " ".join(repr(float(v)) for v in a.reshape(-1))
    return f"{role} {name}{dims} : {values}\n"


def to_numpy(t):
    return t.detach().to(torch.float64).numpy()


def keras_pads(padding, steps, k, stride, dilation):
    span = (k - 1) * dilation + 1
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return span - 1, 0
    out = -(-steps // stride)
    total = max((out - 1) * stride + span - steps, 0)
    return total // 2, total - total // 2


def conv1d_keras(x, kernel, bias, padding, stride, dilation):
    """Keras' Conv1D on x [B, T, F] through torch's channels-first conv1d."""
    pl, pr = keras_pads(padding, x.shape[1], kernel.shape[0], stride, dilation)
    xc = F.pad(x.permute(0, 2, 1), (pl, pr))
    y = F.conv1d(xc, kernel.permute(2, 1, 0), bias, stride=stride, dilation=dilation)
    return y.permute(0, 2, 1)


def conv1d_loops(x, kernel, bias, padding, stride, dilation):
    """The definition, as plain loops in numpy float64: checks the layout mapping above."""
    b, steps, _ = x.shape
    k, _, o = kernel.shape
    pl, pr = keras_pads(padding, steps, k, stride, dilation)
    out_steps = (steps + pl + pr - (k - 1) * dilation - 1) // stride + 1
    y = np.tile(bias, (b, out_steps, 1)).astype(np.float64)
    for t in range(out_steps):
        for j in range(k):
            i = t * stride + j * dilation - pl
            if 0 <= i < steps:
                y[:, t, :] += x[:, i, :] @ kernel[j]
    return y


CASES = []


def case(name, seed):
    def register(make):
        CASES.append((name, seed, make))
        return make

    return register


# (padding, kernel_size, strides, dilation_rate, steps): every mode, strides and dilations,
# even kernels under `same` (the odd zero goes after), and 1x1 convolutions.
CONV = [
    ("valid", 3, 1, 1, 7), ("valid", 4, 2, 1, 9), ("valid", 2, 1, 3, 8), ("valid", 3, 3, 2, 11),
    ("valid", 1, 1, 1, 5), ("valid", 1, 2, 1, 7),
    ("causal", 2, 1, 1, 6), ("causal", 2, 1, 4, 9), ("causal", 3, 2, 2, 10), ("causal", 1, 1, 1, 4),
    ("same", 3, 1, 1, 6), ("same", 4, 1, 1, 7), ("same", 3, 2, 1, 8), ("same", 2, 3, 2, 10),
]

for i, (padding, k, s, d, steps) in enumerate(CONV):
    name = f"conv1d_{padding}_k{k}_s{s}_d{d}_t{steps}"

    @case(name, 700 + i)
    def _(rng, padding=padding, k=k, s=s, d=d, steps=steps):
        inputs = dict(x=rng.uniform(-1, 1, (3, steps, 4)), kernel=rng.normal(0, 0.5, (k, 4, 5)),
                      bias=rng.uniform(-0.3, 0.3, (5,)))
        ref = conv1d_loops(inputs["x"], inputs["kernel"], inputs["bias"], padding, s, d)
        got = conv1d_keras(*(torch.tensor(inputs[n]) for n in ("x", "kernel", "bias")), padding, s, d)
        assert np.allclose(got.numpy(), ref, rtol=0, atol=1e-12), name
        return inputs, lambda t: conv1d_keras(t["x"], t["kernel"], t["bias"], padding, s, d)


@case("layer_norm", 801)
def _(rng):
    inputs = dict(x=rng.normal(0.5, 2.0, (4, 3, 6)), gamma=rng.uniform(0.5, 1.5, (6,)), beta=rng.uniform(-0.5, 0.5, (6,)))
    return inputs, lambda t: F.layer_norm(t["x"], (6,), t["gamma"], t["beta"], eps=1e-3)


@case("layer_norm_small_variance", 802)  # epsilon matters: rows of nearly equal values
def _(rng):
    inputs = dict(x=rng.normal(0.0, 1.0, (5, 1)) + rng.normal(0.0, 0.02, (5, 8)),
                  gamma=rng.uniform(0.5, 1.5, (8,)), beta=rng.uniform(-0.5, 0.5, (8,)))
    return inputs, lambda t: F.layer_norm(t["x"], (8,), t["gamma"], t["beta"], eps=1e-3)


@case("ln_simple_rnn", 803)
def _(rng):
    inputs = dict(x=rng.uniform(-1, 1, (3, 5, 2)), kernel=rng.normal(0, 0.7, (2, 4)),
                  recurrent_kernel=rng.normal(0, 0.5, (4, 4)), bias=rng.uniform(-0.3, 0.3, (4,)),
                  gamma=rng.uniform(0.5, 1.5, (4,)), beta=rng.uniform(-0.5, 0.5, (4,)))

    def fn(t):
        h = torch.zeros(3, 4, dtype=t["x"].dtype)
        hs = []
        for step in range(5):
            z = t["x"][:, step, :] @ t["kernel"] + t["bias"] + h @ t["recurrent_kernel"]
            h = torch.tanh(F.layer_norm(z, (4,), t["gamma"], t["beta"], eps=1e-3))
            hs.append(h)
        return torch.stack(hs, dim=1)  # every step's output: return_sequences

    return inputs, fn


@case("wavenet_small", 804)  # causal dilated relu convolutions and a 1x1 head, as the walkthrough
def _(rng):
    inputs = dict(x=rng.uniform(-1, 1, (2, 12, 1)),
                  k1=rng.normal(0, 0.8, (2, 1, 3)), b1=rng.uniform(-0.2, 0.2, (3,)),
                  k2=rng.normal(0, 0.6, (2, 3, 3)), b2=rng.uniform(-0.2, 0.2, (3,)),
                  k3=rng.normal(0, 0.6, (2, 3, 3)), b3=rng.uniform(-0.2, 0.2, (3,)),
                  k4=rng.normal(0, 0.6, (1, 3, 2)), b4=rng.uniform(-0.2, 0.2, (2,)))

    def fn(t):
        h = t["x"]
        for n, rate in ((1, 1), (2, 2), (3, 4)):
            h = torch.relu(conv1d_keras(h, t[f"k{n}"], t[f"b{n}"], "causal", 1, rate))
        return conv1d_keras(h, t["k4"], t["b4"], "valid", 1, 1)

    return inputs, fn


def write():
    path = os.path.join(OUT, "conv.txt")
    with open(path, "w") as f:
        f.write(f"# torch {torch.__version__}, written by scripts/make_conv_goldens.py; layouts in the script\n")
        for name, seed, make in CASES:
            rng = np.random.RandomState(seed)
            inputs, fn = make(rng)
            out_shape = fn({k: torch.tensor(v) for k, v in inputs.items()}).shape
            grad_seed = rng.normal(0.0, 1.0, size=tuple(out_shape))
            for dtype_name, np_dtype, torch_dtype in DTYPES:
                leaves = {k: torch.tensor(np.asarray(v, dtype=np_dtype), dtype=torch_dtype, requires_grad=True)
                          for k, v in inputs.items()}
                out = fn(leaves)
                out.backward(torch.tensor(np.asarray(grad_seed, dtype=np_dtype), dtype=torch_dtype))
                f.write(f"case {name} {dtype_name}\n")
                for k, t in leaves.items():
                    f.write(fmt_line("input", k, to_numpy(t)))
                f.write(fmt_line("seed", "out", np.asarray(grad_seed, dtype=np_dtype)))
                f.write(fmt_line("output", "out", to_numpy(out)))
                for k, t in leaves.items():
                    assert t.grad is not None, f"{name}: no gradient for {k}"
                    f.write(fmt_line("grad", k, to_numpy(t.grad)))
                f.write("end\n")
    print("wrote", os.path.normpath(path), f"({len(CASES)} cases x {len(DTYPES)} dtypes)")


if __name__ == "__main__":
    write()
