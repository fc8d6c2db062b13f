#!/usr/bin/python3
"""Writes tests/goldens/softmax.txt: PyTorch's numbers for softmax, log_softmax and the
cross-entropy losses (ops/softmax.h, ops/cross_entropy.h), checked by tests/ops/softmax_golden_test.cpp.

Each case holds its inputs, the forward output and the gradient of every input, in float64 and in
float32 (inputs rounded to float32 first), in the format of scripts/make_goldens.py (read by
tests/support/golden_reader.h). Class ids, which take no gradient, are written as `value targets`.
Non-scalar outputs get a random `seed`: the graph computes sum(output * seed).

References: torch.softmax / torch.log_softmax; torch.nn.functional.cross_entropy (mean, with
ignore_index for the padded cases) for the sparse categorical loss from logits;
binary_cross_entropy_with_logits for the binary loss from logits. Keras' forms from probabilities
(clip to [1e-7, 1 - 1e-7]; sparse: renormalise the clipped row; binary: log(p + 1e-7)) are written
out with torch ops, since torch has no such loss. Extreme cases use logits of +-100, whose losses
and gradients must stay finite.

Run from anywhere: /usr/bin/python3 scripts/make_softmax_goldens.py
"""

import os
import subprocess

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError:  # Debian's packages, as the project's other scripts use
    subprocess.run(["apt-get", "install", "-y", "python3-numpy", "python3-torch"], check=True)
    import numpy as np
    import torch
    import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "goldens")
DTYPES = [("float64", np.float64, torch.float64), ("float32", np.float32, torch.float32)]
EPS = 1e-7
CASES = []


def fmt_line(role, name, array):
    a = np.asarray(array, dtype=np.float64)
    dims = "".join(f" {d}" for d in a.shape)
    values = " ".join(repr(float(v)) for v in a.reshape(-1))
    return f"{role} {name}{dims} : {values}\n"


def case(name, seed):
    """Registers `make(rng) -> (inputs, targets or None, fn(leaves, targets))`."""

    def register(make):
        CASES.append((name, seed, make))
        return make

    return register


def extreme(rng, shape):
    """Logits of +-100 mixed with ordinary ones."""
    a = rng.uniform(-2.0, 2.0, size=shape)
    mask = rng.uniform(size=shape) < 0.4
    a[mask] = np.where(rng.uniform(size=shape) < 0.5, -100.0, 100.0)[mask]
    return a


def ids(rng, shape, classes):
    return rng.randint(0, classes, size=shape).astype(np.float64)


def keras_sparse_from_probs(p, t):
    c = p.clamp(EPS, 1 - EPS)
    logp = torch.log(c) - torch.log(c.sum(-1, keepdim=True))
    return -logp.gather(-1, t.long().unsqueeze(-1)).mean()


def keras_binary_from_probs(p, t):
    c = p.clamp(EPS, 1 - EPS)
    return -(t * torch.log(c + EPS) + (1 - t) * torch.log(1 - c + EPS)).mean()


@case("softmax_last", 1)
def _(rng):
    return dict(x=rng.normal(0, 2, (4, 5))), None, lambda v, t: torch.softmax(v["x"], -1)


@case("softmax_axis1", 2)
def _(rng):
    return dict(x=rng.normal(0, 2, (2, 3, 4))), None, lambda v, t: torch.softmax(v["x"], 1)


@case("softmax_extreme", 3)
def _(rng):
    return dict(x=extreme(rng, (4, 6))), None, lambda v, t: torch.softmax(v["x"], -1)


@case("log_softmax_last", 4)
def _(rng):
    return dict(x=rng.normal(0, 2, (3, 6))), None, lambda v, t: torch.log_softmax(v["x"], -1)


@case("log_softmax_axis0", 5)
def _(rng):
    return dict(x=rng.normal(0, 2, (4, 3))), None, lambda v, t: torch.log_softmax(v["x"], 0)


@case("log_softmax_extreme", 6)
def _(rng):
    return dict(x=extreme(rng, (4, 6))), None, lambda v, t: torch.log_softmax(v["x"], -1)


@case("sce_logits_2d", 7)
def _(rng):
    return dict(logits=rng.normal(0, 2, (6, 5))), ids(rng, (6,), 5), \
        lambda v, t: F.cross_entropy(v["logits"], t.long())


@case("sce_logits_3d", 8)
def _(rng):
    # [B, T, C] with targets [B, T]: torch wants the classes on axis 1
    return dict(logits=rng.normal(0, 2, (2, 4, 5))), ids(rng, (2, 4), 5), \
        lambda v, t: F.cross_entropy(v["logits"].reshape(-1, 5), t.long().reshape(-1))


@case("sce_logits_ignore0", 9)
def _(rng):
    t = ids(rng, (3, 4), 6)
    t[:, 3] = 0  # padding at the end of every sequence
    t[1, 2] = 0
    return dict(logits=rng.normal(0, 2, (3, 4, 6))), t, \
        lambda v, t: F.cross_entropy(v["logits"].reshape(-1, 6), t.long().reshape(-1), ignore_index=0)


@case("sce_logits_extreme", 10)
def _(rng):
    return dict(logits=extreme(rng, (8, 4))), ids(rng, (8,), 4), \
        lambda v, t: F.cross_entropy(v["logits"], t.long())


@case("sce_probs", 11)
def _(rng):
    p = rng.uniform(0.05, 1.0, (5, 4))
    p /= p.sum(-1, keepdims=True)
    p[0, 1], p[2, 3] = 1e-9, 0.0  # below the clip: no gradient there
    return dict(p=p), ids(rng, (5,), 4), lambda v, t: keras_sparse_from_probs(v["p"], t)


@case("bce_logits", 12)
def _(rng):
    return dict(x=rng.normal(0, 2, (4, 3)), target=rng.uniform(0, 1, (4, 3))), None, \
        lambda v, t: F.binary_cross_entropy_with_logits(v["x"], v["target"])


@case("bce_logits_extreme", 13)
def _(rng):
    return dict(x=extreme(rng, (4, 5)), target=np.round(rng.uniform(0, 1, (4, 5)))), None, \
        lambda v, t: F.binary_cross_entropy_with_logits(v["x"], v["target"])


@case("bce_probs", 14)
def _(rng):
    p = rng.uniform(0.02, 0.98, (3, 4))
    p[0, 0], p[1, 2] = 1e-9, 1.0  # outside the clip: no gradient to p there
    return dict(p=p, target=rng.uniform(0, 1, (3, 4))), None, lambda v, t: keras_binary_from_probs(v["p"], v["target"])


def main():
    path = os.path.join(OUT, "softmax.txt")
    with open(path, "w") as f:
        f.write(f"# torch {torch.__version__}, written by scripts/make_softmax_goldens.py; format in the script\n")
        for name, seed, make in CASES:
            rng = np.random.RandomState(seed)
            inputs, targets, fn = make(rng)
            t64 = None if targets is None else torch.tensor(targets)
            out_shape = fn({k: torch.tensor(v) for k, v in inputs.items()}, t64).shape
            grad_seed = rng.normal(0.0, 1.0, size=tuple(out_shape)) if len(out_shape) > 0 else None
            for dtype_name, np_dtype, torch_dtype in DTYPES:
                leaves = {k: torch.tensor(np.asarray(v, dtype=np_dtype), dtype=torch_dtype, requires_grad=True)
                          for k, v in inputs.items()}
                tt = None if targets is None else torch.tensor(np.asarray(targets, dtype=np_dtype), dtype=torch_dtype)
                out = fn(leaves, tt)
                if grad_seed is None:
                    out.backward()
                else:
                    out.backward(torch.tensor(np.asarray(grad_seed, dtype=np_dtype), dtype=torch_dtype))
                f.write(f"case {name} {dtype_name}\n")
                for k, t in leaves.items():
                    f.write(fmt_line("input", k, t.detach().to(torch.float64).numpy()))
                if targets is not None:
                    f.write(fmt_line("value", "targets", np.asarray(targets, dtype=np_dtype)))
                if grad_seed is not None:
                    f.write(fmt_line("seed", "out", np.asarray(grad_seed, dtype=np_dtype)))
                o = out.detach().to(torch.float64).numpy()
                assert np.all(np.isfinite(o)), f"{name}: non-finite output"
                f.write(fmt_line("output", "out", o))
                for k, t in leaves.items():
                    assert t.grad is not None, f"{name}: no gradient for {k}"
                    g = t.grad.to(torch.float64).numpy()
                    assert np.all(np.isfinite(g)), f"{name}: non-finite gradient of {k}"
                    f.write(fmt_line("grad", k, g))
                f.write("end\n")
    print("wrote", os.path.normpath(path), f"({len(CASES)} cases x {len(DTYPES)} dtypes)")


if __name__ == "__main__":
    main()
