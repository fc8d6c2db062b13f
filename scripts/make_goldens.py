#!/usr/bin/python3
"""Writes the PyTorch goldens that pin tapegrad's numbers:

  tests/goldens/graphs.txt  composite graphs (tanh chains, a hand-unrolled RNN, mse, broadcasting,
                            reductions, shape ops, matmuls, unary math): inputs, the forward output
                            and the gradient of every input, checked by tests/core/golden_test.cpp;
  tests/goldens/models.txt  the seed post's deep RNN and seq2seq model with fixed weights: the
                            prediction, the mse loss and every parameter's gradient, checked by
                            tests/nn/layers/golden_models_test.cpp.

Every case is written twice, computed in float64 and in float32 (inputs rounded to float32 first,
so that C++ reads exactly the numbers PyTorch used). Inputs come from numpy's RandomState with a
fixed seed per case; the files are committed, so the C++ tests need no Python.

File format (read by tests/support/golden_reader.h); '#' starts a comment line:
    case <name> <float32|float64>
    <role> <name> <d0> <d1> ... : <values...>      row-major; a scalar has no dims
    end
Roles: `input` (leaf tensors; the gradient is wanted for each), `seed` (the gradient fed to a
non-scalar output, i.e. the graph computes sum(output * seed)), `output` (the forward result),
`value` (an intermediate result worth checking, e.g. a model's prediction), `grad` (the gradient
of the named input). Values are written with repr(), which round-trips doubles exactly (float32
values are widened to double first, which is exact).

The math follows Keras' conventions: SimpleRNN h_t = tanh(x_t W + h_{t-1} U + b) with W [F,H],
U [H,H], one bias [H] and a zero initial state; Dense y = x W + b with W [in,out]; mse is the mean
over all elements. The script checks its plain-tensor RNN against torch.nn.RNN's kernel (transposed
weights, zero hidden bias) before writing anything.

Run from anywhere: /usr/bin/python3 scripts/make_goldens.py
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

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "goldens")
DTYPES = [("float64", np.float64, torch.float64), ("float32", np.float32, torch.float32)]


# ---- writing ---------------------------------------------------------------------------------


def fmt_line(role, name, array):
    a = np.asarray(array, dtype=np.float64)
    dims = "".join(f" {d}" for d in a.shape)
    values = " ".join(repr(float(v)) for v in a.reshape(-1))
    return f"{role} {name}{dims} : {values}\n"


def to_numpy(t):
    return t.detach().to(torch.float64).numpy()


# ---- random inputs ---------------------------------------------------------------------------


def uni(rng, shape, lo=-1.0, hi=1.0):
    return rng.uniform(lo, hi, size=shape)


def away(rng, shape, gap, lo=-1.0, hi=1.0, centres=(0.0,)):
    """Uniform in [lo, hi) but at least `gap` away from every centre (a kink of relu, abs, clamp)."""
    a = rng.uniform(lo, hi, size=shape)
    for c in centres:
        close = np.abs(a - c) < gap
        a[close] = c + np.where(a[close] >= c, gap, -gap) + (a[close] - c)  # pushed out by gap
    return np.clip(a, lo, hi)


def signed(rng, shape, lo=0.5, hi=1.5):
    """Magnitude in [lo, hi), random sign: safe divisors."""
    return rng.uniform(lo, hi, size=shape) * np.where(rng.uniform(size=shape) < 0.5, -1.0, 1.0)


# ---- graphs ----------------------------------------------------------------------------------

GRAPHS = []


def graph(name, seed):
    """Registers `make(rng) -> (inputs, fn)`: inputs a dict of float64 arrays, fn maps a dict of
    torch tensors to the output."""

    def register(make):
        GRAPHS.append((name, seed, make))
        return make

    return register


def mse(a, b):
    return ((a - b) ** 2).mean()


def rnn_scan(x, w, u, b):
    """Keras' SimpleRNN over x [B,T,F]: every h_t, from h_0 = 0."""
    h = torch.zeros(x.shape[0], w.shape[1], dtype=x.dtype)
    hs = []
    for t in range(x.shape[1]):
        h = torch.tanh(x[:, t, :] @ w + h @ u + b)
        hs.append(h)
    return torch.stack(hs, dim=1)


# (a) tanh(x W + b) chains
@graph("tanh_chain_2", 101)
def _(rng):
    inputs = dict(x=uni(rng, (5, 4)), w1=rng.normal(0, 0.6, (4, 6)), b1=uni(rng, (6,), -0.3, 0.3),
                  w2=rng.normal(0, 0.6, (6, 3)), b2=uni(rng, (3,), -0.3, 0.3))
    return inputs, lambda t: torch.tanh(torch.tanh(t["x"] @ t["w1"] + t["b1"]) @ t["w2"] + t["b2"])


@graph("tanh_chain_3", 102)
def _(rng):
    inputs = dict(x=uni(rng, (6, 3)), w1=rng.normal(0, 0.6, (3, 8)), b1=uni(rng, (8,), -0.3, 0.3),
                  w2=rng.normal(0, 0.5, (8, 5)), b2=uni(rng, (5,), -0.3, 0.3),
                  w3=rng.normal(0, 0.6, (5, 2)), b3=uni(rng, (2,), -0.3, 0.3))

    def fn(t):
        h = torch.tanh(t["x"] @ t["w1"] + t["b1"])
        h = torch.tanh(h @ t["w2"] + t["b2"])
        return torch.tanh(h @ t["w3"] + t["b3"])

    return inputs, fn


@graph("tanh_chain_mse", 103)
def _(rng):
    inputs = dict(x=uni(rng, (8, 4)), w1=rng.normal(0, 0.6, (4, 6)), b1=uni(rng, (6,), -0.3, 0.3),
                  w2=rng.normal(0, 0.5, (6, 5)), b2=uni(rng, (5,), -0.3, 0.3),
                  w3=rng.normal(0, 0.5, (5, 1)), b3=uni(rng, (1,), -0.3, 0.3), target=uni(rng, (8, 1)))

    def fn(t):
        h = torch.tanh(t["x"] @ t["w1"] + t["b1"])
        h = torch.tanh(h @ t["w2"] + t["b2"])
        return mse(h @ t["w3"] + t["b3"], t["target"])

    return inputs, fn


# (b) a 3-step hand-unrolled RNN with shared weights
def rnn_inputs(rng, target_shape):
    return dict(x=uni(rng, (2, 3, 3)), w=rng.normal(0, 0.6, (3, 4)), u=rng.normal(0, 0.5, (4, 4)),
                b=uni(rng, (4,), -0.3, 0.3), target=uni(rng, target_shape, -0.8, 0.8))


@graph("rnn_unrolled_3", 201)
def _(rng):
    inputs = rnn_inputs(rng, (2, 4))

    def fn(t):
        x, w, u, b = t["x"], t["w"], t["u"], t["b"]
        h1 = torch.tanh(x[:, 0, :] @ w + b)  # h_0 = 0
        h2 = torch.tanh(x[:, 1, :] @ w + h1 @ u + b)
        h3 = torch.tanh(x[:, 2, :] @ w + h2 @ u + b)
        return mse(h3, t["target"])

    return inputs, fn


@graph("rnn_unrolled_3_sequences", 202)
def _(rng):
    inputs = rnn_inputs(rng, (2, 3, 4))
    return inputs, lambda t: mse(rnn_scan(t["x"], t["w"], t["u"], t["b"]), t["target"])


# (c) mse
@graph("mse_2d", 301)
def _(rng):
    return dict(pred=uni(rng, (4, 3)), target=uni(rng, (4, 3))), lambda t: mse(t["pred"], t["target"])


@graph("mse_3d", 302)
def _(rng):
    return dict(pred=uni(rng, (2, 5, 3)), target=uni(rng, (2, 5, 3))), lambda t: mse(t["pred"], t["target"])


@graph("mse_of_tanh_chain", 303)
def _(rng):
    inputs = dict(x=uni(rng, (3, 4)), w=rng.normal(0, 0.6, (4, 2)), target=uni(rng, (3, 2)))
    return inputs, lambda t: mse(torch.tanh(t["x"] @ t["w"]) * 2.0, t["target"])


# (d) broadcasting
@graph("bcast_add_row", 401)
def _(rng):
    return dict(a=uni(rng, (3, 4)), b=uni(rng, (4,))), lambda t: t["a"] + t["b"]


@graph("bcast_mul_outer", 402)
def _(rng):
    return dict(a=uni(rng, (3, 1)), b=uni(rng, (1, 4))), lambda t: t["a"] * t["b"]


@graph("bcast_div_3d", 403)
def _(rng):
    return dict(a=uni(rng, (2, 3, 4)), b=signed(rng, (3, 1))), lambda t: t["a"] / t["b"]


@graph("bcast_sub_both", 404)
def _(rng):
    return dict(a=uni(rng, (2, 1, 4)), b=uni(rng, (3, 1))), lambda t: t["a"] - t["b"]


@graph("bcast_scalar_tensor", 405)
def _(rng):
    inputs = dict(a=uni(rng, (3, 4)), s=signed(rng, ()), c=uni(rng, ()))
    return inputs, lambda t: t["a"] * t["s"] + t["c"] - t["s"] / t["a"].abs().add(1.0)


@graph("scalar_constants", 406)
def _(rng):
    inputs = dict(a=uni(rng, (3, 4)), b=signed(rng, (3, 4)))

    def fn(t):
        a, b = t["a"], t["b"]
        return (2.5 - a) * 0.3 + 1.5 / b - a / 4.0 + (b - 0.5) + (a + 1.25) * (-b)

    return inputs, fn


@graph("bcast_chain_3d", 407)
def _(rng):
    inputs = dict(x=uni(rng, (2, 3, 4)), scale=signed(rng, (4,)), shift=uni(rng, (3, 1)), gate=uni(rng, (2, 1, 1)))
    return inputs, lambda t: (t["x"] * t["scale"] + t["shift"]) * t["gate"]


# (e) reductions
@graph("sum_axis_keepdim", 501)
def _(rng):
    return dict(x=uni(rng, (2, 3, 4))), lambda t: t["x"].sum(dim=1, keepdim=True)


@graph("sum_axes", 502)
def _(rng):
    return dict(x=uni(rng, (2, 3, 4))), lambda t: t["x"].sum(dim=(0, 2))


@graph("sum_all_of_square", 503)
def _(rng):
    return dict(x=uni(rng, (3, 4))), lambda t: (t["x"] * t["x"]).sum()


@graph("mean_axis_keepdim", 504)
def _(rng):
    return dict(x=uni(rng, (2, 3, 4))), lambda t: t["x"].mean(dim=-1, keepdim=True)


@graph("mean_axes", 505)
def _(rng):
    return dict(x=uni(rng, (2, 3, 4))), lambda t: t["x"].mean(dim=(0, 1))


@graph("mean_all_of_product", 506)
def _(rng):
    return dict(x=uni(rng, (3, 4)), w=uni(rng, (3, 4))), lambda t: (t["x"] * t["w"]).mean()


@graph("max_axis", 507)
def _(rng):
    return dict(x=uni(rng, (3, 5))), lambda t: t["x"].max(dim=1).values


@graph("max_axis_keepdim", 508)
def _(rng):
    return dict(x=uni(rng, (2, 3, 4))), lambda t: t["x"].max(dim=0, keepdim=True).values


@graph("max_all", 509)
def _(rng):
    return dict(x=uni(rng, (3, 4))), lambda t: t["x"].max() * 3.0


@graph("softmax_rows", 510)
def _(rng):
    def fn(t):
        x = t["x"]
        e = torch.exp(x - x.max(dim=1, keepdim=True).values)
        return e / e.sum(dim=1, keepdim=True)

    return dict(x=uni(rng, (3, 5), -2.0, 2.0)), fn


@graph("normalise_mean_var", 511)
def _(rng):
    def fn(t):
        x = t["x"]
        c = x - x.mean(dim=0, keepdim=True)
        return c / torch.sqrt((c * c).mean(dim=0, keepdim=True) + 1e-3)

    return dict(x=uni(rng, (5, 3))), fn


# (f) shape ops
@graph("transpose_3d", 601)
def _(rng):
    return dict(x=uni(rng, (2, 3, 4))), lambda t: t["x"].transpose(0, 2) * 2.0


@graph("transpose_matmul", 602)
def _(rng):
    return dict(x=uni(rng, (3, 5)), w=uni(rng, (3, 2))), lambda t: t["x"].transpose(-2, -1) @ t["w"]


@graph("permute", 603)
def _(rng):
    return dict(x=uni(rng, (2, 3, 4))), lambda t: torch.tanh(t["x"].permute(2, 0, 1))


@graph("slice", 604)
def _(rng):
    return dict(x=uni(rng, (4, 5))), lambda t: t["x"].narrow(1, 1, 3) * t["x"].narrow(1, 2, 3)


@graph("slice_negative_start", 605)
def _(rng):
    return dict(x=uni(rng, (4, 5))), lambda t: t["x"].narrow(0, 2, 2)  # tapegrad: start -2


@graph("select", 606)
def _(rng):
    return dict(x=uni(rng, (2, 3, 4))), lambda t: t["x"].select(1, -1) + t["x"].select(0, 1).narrow(0, 0, 2)


@graph("concat_axis0", 607)
def _(rng):
    return dict(a=uni(rng, (2, 3)), b=uni(rng, (1, 3))), lambda t: torch.cat([t["a"], t["b"]], 0)


@graph("concat_axis1_three", 608)
def _(rng):
    inputs = dict(a=uni(rng, (2, 3, 2)), b=uni(rng, (2, 1, 2)), c=uni(rng, (2, 2, 2)))
    return inputs, lambda t: torch.cat([t["a"], t["b"], t["c"], t["a"]], 1)


@graph("stack_axis1", 609)
def _(rng):
    inputs = dict(a=uni(rng, (2, 3)), b=uni(rng, (2, 3)), c=uni(rng, (2, 3)))
    return inputs, lambda t: torch.stack([t["a"], t["b"], t["c"]], 1)


@graph("stack_last_axis", 610)
def _(rng):
    inputs = dict(a=uni(rng, (2, 3)), b=uni(rng, (2, 3)))
    return inputs, lambda t: torch.stack([t["a"] * t["b"], t["b"]], -1)


@graph("reshape_matmul", 611)
def _(rng):
    return dict(x=uni(rng, (2, 3, 4)), w=uni(rng, (6, 2))), lambda t: t["x"].reshape(4, -1) @ t["w"]


@graph("flatten_dense", 612)
def _(rng):
    inputs = dict(x=uni(rng, (3, 2, 4)), w=uni(rng, (8, 2)), b=uni(rng, (2,)))
    return inputs, lambda t: t["x"].reshape(3, -1) @ t["w"] + t["b"]


@graph("broadcast_to", 613)
def _(rng):
    return dict(x=uni(rng, (3, 1))), lambda t: t["x"].expand(2, 3, 4) * 1.5


# (g) matmul and unary math
@graph("matmul_2d", 701)
def _(rng):
    return dict(a=uni(rng, (3, 4)), b=uni(rng, (4, 5))), lambda t: t["a"] @ t["b"]


@graph("matmul_batched", 702)
def _(rng):
    return dict(a=uni(rng, (2, 3, 4)), b=uni(rng, (2, 4, 5))), lambda t: t["a"] @ t["b"]


@graph("matmul_batched_shared_rhs", 703)
def _(rng):
    return dict(a=uni(rng, (2, 3, 4)), b=uni(rng, (4, 5))), lambda t: t["a"] @ t["b"]


@graph("linear_3d", 704)
def _(rng):
    inputs = dict(x=uni(rng, (2, 3, 4)), w=uni(rng, (4, 5)), b=uni(rng, (5,)))
    return inputs, lambda t: t["x"] @ t["w"] + t["b"]


@graph("matmul_chain", 705)
def _(rng):
    inputs = dict(a=uni(rng, (3, 4)), b=uni(rng, (4, 4)), c=uni(rng, (4, 2)))
    return inputs, lambda t: (t["a"] @ t["b"]) @ (t["b"] @ t["c"])


UNARY = [
    ("sigmoid", lambda rng: uni(rng, (3, 4), -3, 3), torch.sigmoid),
    ("exp", lambda rng: uni(rng, (3, 4), -2, 2), torch.exp),
    ("log", lambda rng: uni(rng, (3, 4), 0.2, 3), torch.log),
    ("sqrt", lambda rng: uni(rng, (3, 4), 0.2, 3), torch.sqrt),
    ("square", lambda rng: uni(rng, (3, 4), -2, 2), torch.square),
    ("tanh", lambda rng: uni(rng, (3, 4), -2, 2), torch.tanh),
    ("relu", lambda rng: away(rng, (3, 4), 0.1), torch.relu),
    ("abs", lambda rng: away(rng, (3, 4), 0.1), torch.abs),
    ("clamp", lambda rng: away(rng, (3, 4), 0.05, centres=(-0.5, 0.5)), lambda x: torch.clamp(x, -0.5, 0.5)),
    ("pow_2_5", lambda rng: uni(rng, (3, 4), 0.2, 2), lambda x: torch.pow(x, 2.5)),
    ("pow_3", lambda rng: uni(rng, (3, 4), -2, 2), lambda x: torch.pow(x, 3.0)),
    ("pow_minus_1_5", lambda rng: uni(rng, (3, 4), 0.3, 2), lambda x: torch.pow(x, -1.5)),
    ("neg", lambda rng: uni(rng, (3, 4)), torch.neg),
]

for i, (op, make_x, fn) in enumerate(UNARY):
    graph(f"unary_{op}", 800 + i)(lambda rng, make_x=make_x, fn=fn: (dict(x=make_x(rng)), lambda t: fn(t["x"])))


@graph("unary_mix", 850)
def _(rng):
    def fn(t):
        a, b = t["a"], t["b"]
        return torch.log(1.0 + torch.exp(a)) * torch.sigmoid(b) - torch.sqrt(torch.abs(a) + 1.0) + torch.relu(b) * a

    return dict(a=uni(rng, (4, 3), -2, 2), b=away(rng, (4, 3), 0.1)), fn


def write_graphs():
    path = os.path.join(OUT, "graphs.txt")
    with open(path, "w") as f:
        f.write(f"# torch {torch.__version__}, written by scripts/make_goldens.py; format in the script\n")
        for name, seed, make in GRAPHS:
            rng = np.random.RandomState(seed)
            inputs, fn = make(rng)
            out_shape = fn({k: torch.tensor(v) for k, v in inputs.items()}).shape
            grad_seed = rng.normal(0.0, 1.0, size=tuple(out_shape)) if len(out_shape) > 0 else None
            for dtype_name, np_dtype, torch_dtype in DTYPES:
                leaves = {k: torch.tensor(np.asarray(v, dtype=np_dtype), dtype=torch_dtype, requires_grad=True)
                          for k, v in inputs.items()}
                out = fn(leaves)
                if grad_seed is None:
                    out.backward()
                else:
                    out.backward(torch.tensor(np.asarray(grad_seed, dtype=np_dtype), dtype=torch_dtype))
                f.write(f"case {name} {dtype_name}\n")
                for k, t in leaves.items():
                    f.write(fmt_line("input", k, to_numpy(t)))
                if grad_seed is not None:
                    f.write(fmt_line("seed", "out", np.asarray(grad_seed, dtype=np_dtype)))
                f.write(fmt_line("output", "out", to_numpy(out)))
                for k, t in leaves.items():
                    assert t.grad is not None, f"{name}: no gradient for {k}"
                    f.write(fmt_line("grad", k, to_numpy(t.grad)))
                f.write("end\n")
    print("wrote", os.path.normpath(path), f"({len(GRAPHS)} graphs x {len(DTYPES)} dtypes)")


# ---- models ----------------------------------------------------------------------------------


def generate_time_series(rng, batch, n_steps):
    """The notebook's generator (walkthrough.md), in float64."""
    freq1, freq2, offsets1, offsets2 = rng.rand(4, batch, 1)
    time = np.linspace(0, 1, n_steps)
    series = 0.5 * np.sin((time - offsets1) * (freq1 * 10 + 10))
    series += 0.2 * np.sin((time - offsets2) * (freq2 * 20 + 20))
    series += 0.1 * (rng.rand(batch, n_steps) - 0.5)
    return series[..., np.newaxis]


def glorot_uniform(rng, fan_in, fan_out):
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out))


def orthogonal(rng, n):
    q, r = np.linalg.qr(rng.normal(0.0, 1.0, size=(n, n)))
    return q * np.sign(np.diag(r))


def simple_rnn_params(rng, prefix, features, units):
    # Keras' initialisers, plus a small random bias so that its gradient path is exercised.
    return [(f"{prefix}.cell.kernel", glorot_uniform(rng, features, units)),
            (f"{prefix}.cell.recurrent_kernel", orthogonal(rng, units)),
            (f"{prefix}.cell.bias", rng.uniform(-0.1, 0.1, size=(units,)))]


def dense_params(rng, prefix, features, units):
    return [(f"{prefix}.kernel", glorot_uniform(rng, features, units)),
            (f"{prefix}.bias", rng.uniform(-0.1, 0.1, size=(units,)))]


def deep_rnn_forward(x, p, rnn):
    h = rnn(x, p["simple_rnn.cell.kernel"], p["simple_rnn.cell.recurrent_kernel"], p["simple_rnn.cell.bias"])
    h = rnn(h, p["simple_rnn_1.cell.kernel"], p["simple_rnn_1.cell.recurrent_kernel"], p["simple_rnn_1.cell.bias"])
    return h[:, -1, :] @ p["dense.kernel"] + p["dense.bias"]  # SimpleRNN(20) returns the last state


def seq2seq_forward(x, p, rnn):
    h = rnn(x, p["simple_rnn.cell.kernel"], p["simple_rnn.cell.recurrent_kernel"], p["simple_rnn.cell.bias"])
    h = rnn(h, p["simple_rnn_1.cell.kernel"], p["simple_rnn_1.cell.recurrent_kernel"], p["simple_rnn_1.cell.bias"])
    return h @ p["time_distributed.layer.kernel"] + p["time_distributed.layer.bias"]  # every step


def torch_rnn(x, w, u, b):
    """The same layer through the kernel behind torch.nn.RNN (nonlinearity tanh, batch_first;
    weights transposed to its [H,F] / [H,H] layout, the hidden bias zero): a check that rnn_scan
    is the Keras math and not a slip of ours."""
    h0 = torch.zeros(1, x.shape[0], w.shape[1], dtype=x.dtype)
    out, _ = torch.rnn_tanh(x, h0, [w.t(), u.t(), b, torch.zeros_like(b)], True, 1, 0.0, False, False, True)
    return out


MODELS = [
    # name, series seed, forward, parameter list builder
    ("deep_rnn", 42, deep_rnn_forward,
     lambda rng: simple_rnn_params(rng, "simple_rnn", 1, 20) + simple_rnn_params(rng, "simple_rnn_1", 20, 20)
     + dense_params(rng, "dense", 20, 1)),
    ("seq2seq", 43, seq2seq_forward,
     lambda rng: simple_rnn_params(rng, "simple_rnn", 1, 20) + simple_rnn_params(rng, "simple_rnn_1", 20, 20)
     + dense_params(rng, "time_distributed.layer", 20, 10)),
]


def model_data(name, seed):
    rng = np.random.RandomState(seed)
    if name == "deep_rnn":
        series = generate_time_series(rng, 4, 51)
        return series[:, :50], series[:, -1], rng  # x [4,50,1], target [4,1]
    series = generate_time_series(rng, 4, 60)
    target = np.empty((4, 50, 10))
    for k in range(1, 11):
        target[..., k - 1] = series[:, k:k + 50, 0]
    return series[:, :50], target, rng  # x [4,50,1], target [4,50,10]


def run_model(forward, rnn, x, target, params, np_dtype, torch_dtype):
    tx = torch.tensor(np.asarray(x, dtype=np_dtype), dtype=torch_dtype)
    tt = torch.tensor(np.asarray(target, dtype=np_dtype), dtype=torch_dtype)
    tp = {k: torch.tensor(np.asarray(v, dtype=np_dtype), dtype=torch_dtype, requires_grad=True) for k, v in params}
    pred = forward(tx, tp, rnn)
    loss = mse(pred, tt)
    loss.backward()
    return tx, tt, tp, pred, loss


def write_models():
    path = os.path.join(OUT, "models.txt")
    with open(path, "w") as f:
        f.write(f"# torch {torch.__version__}, written by scripts/make_goldens.py; format in the script\n")
        f.write("# inputs: x, target and the parameters in tapegrad's named_parameters() order\n")
        for name, seed, forward, make_params in MODELS:
            x, target, rng = model_data(name, seed)
            params = make_params(np.random.RandomState(seed + 1000))
            for dtype_name, np_dtype, torch_dtype in DTYPES:
                tx, tt, tp, pred, loss = run_model(forward, rnn_scan, x, target, params, np_dtype, torch_dtype)
                # The same model through torch.nn.RNN must agree (to rounding).
                _, _, rp, rpred, rloss = run_model(forward, torch_rnn, x, target, params, np_dtype, torch_dtype)
                tol = 1e-12 if torch_dtype == torch.float64 else 1e-5
                assert abs(loss.item() - rloss.item()) <= tol * max(1.0, abs(loss.item())), (name, loss, rloss)
                assert torch.allclose(pred, rpred, rtol=0, atol=tol), name
                for k in tp:
                    assert torch.allclose(tp[k].grad, rp[k].grad, rtol=tol, atol=tol), (name, k)
                f.write(f"case {name} {dtype_name}\n")
                f.write(fmt_line("input", "x", to_numpy(tx)))
                f.write(fmt_line("input", "target", to_numpy(tt)))
                for k, t in tp.items():
                    f.write(fmt_line("input", k, to_numpy(t)))
                f.write(fmt_line("value", "prediction", to_numpy(pred)))
                f.write(fmt_line("output", "loss", to_numpy(loss)))
                for k, t in tp.items():
                    f.write(fmt_line("grad", k, to_numpy(t.grad)))
                f.write("end\n")
                print(f"{name} {dtype_name}: loss {loss.item():.6f}")
    print("wrote", os.path.normpath(path))


if __name__ == "__main__":
    torch.manual_seed(0)  # nothing random is drawn from torch; numpy seeds everything
    write_graphs()
    write_models()
