#!/usr/bin/python3
"""Writes tests/goldens/gated.txt: PyTorch's torch.nn.LSTM and torch.nn.GRU on weights mapped from
tapegrad's (Keras') layouts, for tests/nn/recurrent/gated_layers_test.cpp.

Each case is a two-layer stack with return_sequences on a short sequence: x [3, 6, 2] through
LSTM(5, seq) + LSTM(4, seq) (or GRU), the mse against a random target [3, 6, 4], and backward.
The weights are drawn here in tapegrad's layout and under its parameter names
(lstm.cell.kernel [F, 4u], lstm.cell.recurrent_kernel [u, 4u], lstm.cell.bias [4u];
gru.cell.bias [2, 3u]), loaded into PyTorch's modules through the mapping documented in
nn/recurrent/lstm.h and nn/recurrent/gru.h, and PyTorch's gradients are mapped back the same way:

  LSTM (PyTorch gate order i, f, g, o = Keras' i, f, c, o):
      weight_ih = kernel.T, weight_hh = recurrent_kernel.T, bias_ih + bias_hh = bias
      (the bias is split at random between PyTorch's two biases; both get the same gradient)
  GRU (PyTorch gate order r, z, n; Keras' z, r, h):
      weight_ih = P(kernel.T), weight_hh = P(recurrent_kernel.T), bias_ih = P(bias[0]),
      bias_hh = P(bias[1]), P swapping the first two row blocks.

A third case, gru_v1_stack, is Keras' GRU with reset_after=False (the reset gate applied to h
before the recurrent matmul, one bias vector [3u]), which PyTorch has no module for: its goldens
come from Keras' equations written in torch tensors (keras_gru_v1), checked against the same
equations written again in numpy (numpy_gru_v1) before writing.

Before writing, the script runs the same stack through its own plain-tensor statement of Keras'
equations (keras_lstm / keras_gru below) and checks that outputs and every gradient agree with
torch.nn's: the mapping, not only PyTorch, is what the goldens pin.

Written in float64 and float32 (inputs rounded to float32 first), in the format of
tests/support/golden_reader.h (see scripts/make_goldens.py). Run: /usr/bin/python3 scripts/make_gated_goldens.py
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_goldens import DTYPES, OUT, fmt_line, mse, to_numpy, np, torch  # noqa: E402

BATCH, STEPS, FEATURES, UNITS = 3, 6, 2, (5, 4)


# ---- Keras' equations, written out ---------------------------------------------------------------


def keras_lstm(x, kernel, recurrent_kernel, bias):
    """Every h_t of Keras' LSTM over x [B,T,F]; gate blocks i, f, c, o; zero initial states."""
    u = recurrent_kernel.shape[0]
    h = torch.zeros(x.shape[0], u, dtype=x.dtype)
    c = torch.zeros_like(h)
    hs = []
    for t in range(x.shape[1]):
        z = x[:, t] @ kernel + h @ recurrent_kernel + bias
        i, f, g, o = torch.sigmoid(z[:, :u]), torch.sigmoid(z[:, u:2 * u]), torch.tanh(z[:, 2 * u:3 * u]), \
            torch.sigmoid(z[:, 3 * u:])
        c = f * c + i * g
        h = o * torch.tanh(c)
        hs.append(h)
    return torch.stack(hs, dim=1)


def keras_gru(x, kernel, recurrent_kernel, bias):
    """Every h_t of Keras' GRU (reset_after=True) over x [B,T,F]; gate blocks z, r, h."""
    u = recurrent_kernel.shape[0]
    h = torch.zeros(x.shape[0], u, dtype=x.dtype)
    hs = []
    for t in range(x.shape[1]):
        xw = x[:, t] @ kernel + bias[0]
        hu = h @ recurrent_kernel + bias[1]
        z = torch.sigmoid(xw[:, :u] + hu[:, :u])
        r = torch.sigmoid(xw[:, u:2 * u] + hu[:, u:2 * u])
        n = torch.tanh(xw[:, 2 * u:] + r * hu[:, 2 * u:])
        h = z * h + (1 - z) * n
        hs.append(h)
    return torch.stack(hs, dim=1)


def keras_gru_v1(x, kernel, recurrent_kernel, bias):
    """Every h_t of Keras' GRU (reset_after=False) over x [B,T,F]; gate blocks z, r, h; bias [3u]."""
    u = recurrent_kernel.shape[0]
    h = torch.zeros(x.shape[0], u, dtype=x.dtype)
    hs = []
    for t in range(x.shape[1]):
        xw = x[:, t] @ kernel + bias
        z = torch.sigmoid(xw[:, :u] + h @ recurrent_kernel[:, :u])
        r = torch.sigmoid(xw[:, u:2 * u] + h @ recurrent_kernel[:, u:2 * u])
        n = torch.tanh(xw[:, 2 * u:] + (r * h) @ recurrent_kernel[:, 2 * u:])
        h = z * h + (1 - z) * n
        hs.append(h)
    return torch.stack(hs, dim=1)


def numpy_gru_v1(x, kernel, recurrent_kernel, bias):
    """keras_gru_v1 again, in numpy (float64), as an independent statement of the forward."""
    u = recurrent_kernel.shape[0]
    h = np.zeros((x.shape[0], u))
    sig = lambda a: 1.0 / (1.0 + np.exp(-a))  # noqa: E731
    hs = []
    for t in range(x.shape[1]):
        xz, xr, xh = np.split(x[:, t] @ kernel + bias, 3, axis=1)
        uz, ur, uh = np.split(recurrent_kernel, 3, axis=1)
        z, r = sig(xz + h @ uz), sig(xr + h @ ur)
        n = np.tanh(xh + (r * h) @ uh)
        h = z * h + (1 - z) * n
        hs.append(h)
    return np.stack(hs, axis=1)


def write_gru_v1(f):
    """The gru_v1_stack case: GRU(5, seq, reset_after=False) + GRU(4, seq, reset_after=False)."""
    rng = np.random.RandomState(7003)
    x = rng.uniform(-1.0, 1.0, size=(BATCH, STEPS, FEATURES))
    target = rng.uniform(-0.5, 0.5, size=(BATCH, STEPS, UNITS[-1]))
    params, features = [], FEATURES
    for k, u in enumerate(UNITS):
        prefix = f"gru{'' if k == 0 else f'_{k}'}.cell"
        params += [(f"{prefix}.kernel", rng.uniform(-0.6, 0.6, size=(features, 3 * u))),
                   (f"{prefix}.recurrent_kernel", rng.uniform(-0.5, 0.5, size=(u, 3 * u))),
                   (f"{prefix}.bias", rng.uniform(-0.5, 0.5, size=(3 * u,)))]
        features = u
    for dtype_name, np_dtype, torch_dtype in DTYPES:
        cast = {k: np.asarray(v, dtype=np_dtype).astype(np.float64) for k, v in params}
        tx = torch.tensor(np.asarray(x, dtype=np_dtype), dtype=torch_dtype)
        tt = torch.tensor(np.asarray(target, dtype=np_dtype), dtype=torch_dtype)
        kp = {k: torch.tensor(v, dtype=torch_dtype, requires_grad=True) for k, v in cast.items()}
        h, hn = tx, to_numpy(tx).astype(np.float64)
        for k in range(len(UNITS)):
            prefix = f"gru{'' if k == 0 else f'_{k}'}.cell"
            names = [f"{prefix}.{n}" for n in ("kernel", "recurrent_kernel", "bias")]
            h = keras_gru_v1(h, *(kp[n] for n in names))
            hn = numpy_gru_v1(hn, *(cast[n] for n in names))
        tol = 1e-12 if torch_dtype == torch.float64 else 2e-6
        assert np.allclose(to_numpy(h), hn, rtol=0, atol=tol), "torch and numpy statements of reset_after=False"
        loss = mse(h, tt)
        loss.backward()
        f.write(f"case gru_v1_stack {dtype_name}\n")
        f.write(fmt_line("input", "x", to_numpy(tx)))
        f.write(fmt_line("input", "target", to_numpy(tt)))
        for k, _ in params:
            f.write(fmt_line("input", k, cast[k]))
        f.write(fmt_line("value", "prediction", to_numpy(h)))
        f.write(fmt_line("output", "loss", to_numpy(loss)))
        for k, _ in params:
            f.write(fmt_line("grad", k, to_numpy(kp[k].grad)))
        f.write("end\n")
        print(f"gru_v1_stack {dtype_name}: loss {loss.item():.6f}")


# ---- the mapping to and from PyTorch ---------------------------------------------------------------


def swap_rz(a, u):
    """Swaps the first two blocks (u rows each) of a [3u, ...] array: Keras' z, r, h <-> PyTorch's r, z, n."""
    return np.concatenate([a[u:2 * u], a[:u], a[2 * u:]], axis=0)


def torch_stack(kind, x, params, dtype_pair, split_rng):
    """Runs torch.nn.LSTM / torch.nn.GRU layers loaded from tapegrad's `params` (numpy, Keras layout).
    Returns the output and the gradient of each tapegrad parameter (a function of the loss), mapped back."""
    np_dtype, torch_dtype = dtype_pair
    layers, features = [], FEATURES
    for k, u in enumerate(UNITS):
        prefix = f"{kind}{'' if k == 0 else f'_{k}'}.cell"
        kernel, rec, bias = (params[f"{prefix}.{n}"] for n in ("kernel", "recurrent_kernel", "bias"))
        cls = torch.nn.LSTM if kind == "lstm" else torch.nn.GRU
        m = cls(features, u, batch_first=True).to(torch_dtype)
        if kind == "lstm":
            b_ih = split_rng.uniform(-0.5, 0.5, size=bias.shape)
            b_hh = bias - b_ih
            mapped = dict(weight_ih_l0=kernel.T, weight_hh_l0=rec.T, bias_ih_l0=b_ih, bias_hh_l0=b_hh)
        else:
            mapped = dict(weight_ih_l0=swap_rz(kernel.T, u), weight_hh_l0=swap_rz(rec.T, u),
                          bias_ih_l0=swap_rz(bias[0], u), bias_hh_l0=swap_rz(bias[1], u))
        with torch.no_grad():
            for name, value in mapped.items():
                getattr(m, name).copy_(torch.tensor(np.asarray(value, dtype=np_dtype), dtype=torch_dtype))
        layers.append((prefix, u, m))
        features = u
    h = x
    for _, _, m in layers:
        h, _ = m(h)
    return h, layers


def torch_grads(kind, layers):
    grads = {}
    for prefix, u, m in layers:
        gi, gh = to_numpy(m.weight_ih_l0.grad), to_numpy(m.weight_hh_l0.grad)
        bi, bh = to_numpy(m.bias_ih_l0.grad), to_numpy(m.bias_hh_l0.grad)
        if kind == "lstm":
            assert np.allclose(bi, bh, rtol=1e-5, atol=1e-6), "PyTorch's two LSTM biases must get one gradient"
            grads.update({f"{prefix}.kernel": gi.T, f"{prefix}.recurrent_kernel": gh.T, f"{prefix}.bias": bi})
        else:
            grads.update({f"{prefix}.kernel": swap_rz(gi, u).T, f"{prefix}.recurrent_kernel": swap_rz(gh, u).T,
                          f"{prefix}.bias": np.stack([swap_rz(bi, u), swap_rz(bh, u)])})
    return grads


# ---- cases -----------------------------------------------------------------------------------------


def make_params(kind, rng):
    gates = 4 if kind == "lstm" else 3
    params, features = [], FEATURES
    for k, u in enumerate(UNITS):
        prefix = f"{kind}{'' if k == 0 else f'_{k}'}.cell"
        bias_shape = (gates * u,) if kind == "lstm" else (2, gates * u)
        params += [(f"{prefix}.kernel", rng.uniform(-0.6, 0.6, size=(features, gates * u))),
                   (f"{prefix}.recurrent_kernel", rng.uniform(-0.5, 0.5, size=(u, gates * u))),
                   (f"{prefix}.bias", rng.uniform(-0.5, 0.5, size=bias_shape))]
        features = u
    return params


def write():
    path = os.path.join(OUT, "gated.txt")
    with open(path, "w") as f:
        f.write(f"# torch {torch.__version__}, written by scripts/make_gated_goldens.py; format in "
                "scripts/make_goldens.py\n")
        f.write("# inputs: x, target and the parameters in tapegrad's named_parameters() order (Keras layouts)\n")
        for kind, seed in (("lstm", 7001), ("gru", 7002)):
            rng = np.random.RandomState(seed)
            x = rng.uniform(-1.0, 1.0, size=(BATCH, STEPS, FEATURES))
            target = rng.uniform(-0.5, 0.5, size=(BATCH, STEPS, UNITS[-1]))
            params = make_params(kind, rng)
            for dtype_name, np_dtype, torch_dtype in DTYPES:
                cast = {k: np.asarray(v, dtype=np_dtype).astype(np.float64) for k, v in params}
                tx = torch.tensor(np.asarray(x, dtype=np_dtype), dtype=torch_dtype)
                tt = torch.tensor(np.asarray(target, dtype=np_dtype), dtype=torch_dtype)
                pred, layers = torch_stack(kind, tx, cast, (np_dtype, torch_dtype), np.random.RandomState(seed + 1))
                loss = mse(pred, tt)
                loss.backward()
                grads = torch_grads(kind, layers)

                # The same stack through Keras' equations on the tapegrad-layout weights.
                kp = {k: torch.tensor(v, dtype=torch_dtype, requires_grad=True) for k, v in cast.items()}
                scan = keras_lstm if kind == "lstm" else keras_gru
                h = tx
                for k in range(len(UNITS)):
                    prefix = f"{kind}{'' if k == 0 else f'_{k}'}.cell"
                    h = scan(h, kp[f"{prefix}.kernel"], kp[f"{prefix}.recurrent_kernel"], kp[f"{prefix}.bias"])
                kloss = mse(h, tt)
                kloss.backward()
                tol = 1e-12 if torch_dtype == torch.float64 else 2e-6
                assert torch.allclose(pred, h, rtol=0, atol=tol), kind
                assert abs(loss.item() - kloss.item()) <= tol, kind
                for k, t in kp.items():
                    assert np.allclose(grads[k], to_numpy(t.grad), rtol=tol, atol=tol), (kind, k)

                f.write(f"case {kind}_stack {dtype_name}\n")
                f.write(fmt_line("input", "x", to_numpy(tx)))
                f.write(fmt_line("input", "target", to_numpy(tt)))
                for k, _ in params:
                    f.write(fmt_line("input", k, cast[k]))
                f.write(fmt_line("value", "prediction", to_numpy(pred)))
                f.write(fmt_line("output", "loss", to_numpy(loss)))
                for k, _ in params:
                    f.write(fmt_line("grad", k, grads[k]))
                f.write("end\n")
                print(f"{kind}_stack {dtype_name}: loss {loss.item():.6f}")
        write_gru_v1(f)
    print("wrote", os.path.normpath(path))


if __name__ == "__main__":
    write()
