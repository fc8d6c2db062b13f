#!/usr/bin/python3
"""Writes tests/goldens/optim_*.txt: parameters after each of 10 steps of torch.optim.Adam,
torch.optim.AdamW, torch.optim.SGD (plain, momentum, Nesterov), torch.optim.RMSprop (each also
with weight_decay, with parameter groups of their own rates, and with batches that give a
parameter no gradient) and the gradients after torch.nn.utils.clip_grad_norm_, from fixed initial
parameters and a fixed sequence of gradients, all in float64, so that tests/optim/*.cpp can check
tapegrad's optimizers without Python.

File format (one record a line, numbers written with repr(), which round-trips exactly):
    hyper <name> <value>          a hyperparameter of the case
    shape <i> <d0> <d1> ...       shape of parameter i
    init <i> <values...>          initial values of parameter i (row-major)
    grad <k> <i> <values...>      gradient of parameter i fed to step k (k = 1..10)
    param <k> <i> <values...>     parameter i after step k
    nograd <k> <i>                step k gives parameter i no gradient: tapegrad leaves it
                                  undefined, torch gets the zero tensor that zero_grad(set_to_none=
                                  False) leaves (its grad line holds those zeros)

Group cases put parameter i in group i; hyper group_<i>_lr and group_<i>_weight_decay are the
groups' own values when they have them, and from step lr_scale_from on every group's rate is its
initial rate times lr_scale (as a scheduler sets them; tapegrad: set_learning_rate(lr * lr_scale)).

Run from anywhere: /usr/bin/python3 scripts/make_optim_goldens.py
"""

import os
import subprocess
import sys

try:
    import numpy as np
    import torch
except ImportError:  # Debian's packages, as the project's other scripts use
    subprocess.run(["apt-get", "install", "-y", "python3-numpy", "python3-torch"], check=True)
    import numpy as np
    import torch

STEPS = 10
SHAPES = [(3, 4), (5,)]
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "goldens")


def fixed_problem(seed):
    """Initial parameters and 10 gradients per parameter. Gradient scales change from step to
    step (1e-3 .. 10) and some elements are exactly zero, so that the moving averages and
    epsilon matter."""
    rng = np.random.RandomState(seed)
    init = [rng.uniform(-1.0, 1.0, size=s) for s in SHAPES]
    grads = []
    for k in range(STEPS):
        scale = 10.0 ** rng.uniform(-3.0, 1.0)
        step = []
        for s in SHAPES:
            g = rng.normal(0.0, scale, size=s)
            g[rng.uniform(size=s) < 0.15] = 0.0
            step.append(g)
        grads.append(step)
    return init, grads


def fmt(values):
    return " ".join(repr(float(v)) for v in np.asarray(values, dtype=np.float64).reshape(-1))


def write_case(name, hyper, init, grads, after, nograd=()):
    path = os.path.join(OUT, f"optim_{name}.txt")
    with open(path, "w") as f:
        f.write(f"# torch {torch.__version__}, written by scripts/make_optim_goldens.py\n")
        for key, value in hyper.items():
            f.write(f"hyper {key} {value!r}\n")
        for i, p in enumerate(init):
            f.write(f"shape {i} {' '.join(str(d) for d in p.shape)}\n")
            f.write(f"init {i} {fmt(p)}\n")
        for k in range(STEPS):
            for i in range(len(init)):
                if (k + 1, i) in nograd:
                    f.write(f"nograd {k + 1} {i}\n")
                f.write(f"grad {k + 1} {i} {fmt(grads[k][i])}\n")
            for i in range(len(init)):
                f.write(f"param {k + 1} {i} {fmt(after[k][i])}\n")
    print("wrote", os.path.normpath(path))


def run_optimizer(make, init, grads, before_step=None):
    params = [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in init]
    opt = make(params)
    after = []
    for k in range(STEPS):
        if before_step:
            before_step(k + 1, opt)
        for p, g in zip(params, grads[k]):
            p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        after.append([p.detach().numpy().copy() for p in params])
    return after


# Batches without a gradient: parameter 1 at the first step (an RNN's recurrent kernel after a
# one-step sequence from a zero state) and at steps 4 and 5, parameter 0 at step 7.
NOGRAD = ((1, 1), (4, 1), (5, 1), (7, 0))


def no_grad_problem(seed):
    init, grads = fixed_problem(seed)
    for k, i in NOGRAD:
        grads[k - 1][i] = np.zeros_like(grads[k - 1][i])
    return init, grads


def group_cases():
    """Parameter i in group i. Group 0 takes the base rate and weight decay, group 1 has its own;
    from step 6 on every group's rate is halved, as a scheduler does (initial rate times 0.5)."""
    def groups(ps, h):
        return [{"params": [ps[0]]},
                {"params": [ps[1]], "lr": h["group_1_lr"], "weight_decay": h["group_1_weight_decay"]}]

    def schedule(h):
        def before_step(k, opt):
            if k == h["lr_scale_from"]:
                for group in opt.param_groups:
                    group["lr"] = group["lr"] * h["lr_scale"]
        return before_step

    common = dict(lr_scale_from=6, lr_scale=0.5)
    return [
        ("adam_groups", 12,
         dict(lr=0.01, beta1=0.9, beta2=0.999, epsilon=1e-8, weight_decay=0.0, group_1_lr=0.05,
              group_1_weight_decay=0.1, **common),
         lambda ps, h: torch.optim.Adam(groups(ps, h), lr=h["lr"], betas=(h["beta1"], h["beta2"]),
                                        eps=h["epsilon"], weight_decay=h["weight_decay"]), schedule),
        ("adamw_groups", 13,
         dict(lr=0.02, beta1=0.9, beta2=0.99, epsilon=1e-8, weight_decay=0.3, group_1_lr=0.003,
              group_1_weight_decay=0.0, **common),
         lambda ps, h: torch.optim.AdamW(groups(ps, h), lr=h["lr"], betas=(h["beta1"], h["beta2"]),
                                         eps=h["epsilon"], weight_decay=h["weight_decay"]), schedule),
        ("sgd_groups", 14,
         dict(lr=0.05, momentum=0.9, nesterov=0, weight_decay=0.02, group_1_lr=0.2,
              group_1_weight_decay=0.0, **common),
         lambda ps, h: torch.optim.SGD(groups(ps, h), lr=h["lr"], momentum=h["momentum"],
                                       weight_decay=h["weight_decay"]), schedule),
    ]


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = [
        ("adam_torch", 1, dict(lr=0.01, beta1=0.9, beta2=0.999, epsilon=1e-8),
         lambda ps, h: torch.optim.Adam(ps, lr=h["lr"], betas=(h["beta1"], h["beta2"]), eps=h["epsilon"])),
        ("adam_torch_large_eps", 2, dict(lr=0.1, beta1=0.8, beta2=0.99, epsilon=0.01),
         lambda ps, h: torch.optim.Adam(ps, lr=h["lr"], betas=(h["beta1"], h["beta2"]), eps=h["epsilon"])),
        ("sgd", 3, dict(lr=0.05, momentum=0.0, nesterov=0),
         lambda ps, h: torch.optim.SGD(ps, lr=h["lr"])),
        ("sgd_momentum", 4, dict(lr=0.05, momentum=0.9, nesterov=0),
         lambda ps, h: torch.optim.SGD(ps, lr=h["lr"], momentum=h["momentum"])),
        ("sgd_nesterov", 5, dict(lr=0.05, momentum=0.8, nesterov=1),
         lambda ps, h: torch.optim.SGD(ps, lr=h["lr"], momentum=h["momentum"], nesterov=True)),
        ("rmsprop", 6, dict(lr=0.01, rho=0.9, epsilon=1e-7),
         lambda ps, h: torch.optim.RMSprop(ps, lr=h["lr"], alpha=h["rho"], eps=h["epsilon"])),
    ]
    # weight decay: L2 added to the gradient (Adam, SGD, RMSprop), decoupled (AdamW)
    cases += [
        ("adamw", 8, dict(lr=0.05, beta1=0.9, beta2=0.999, epsilon=1e-8, weight_decay=0.2),
         lambda ps, h: torch.optim.AdamW(ps, lr=h["lr"], betas=(h["beta1"], h["beta2"]), eps=h["epsilon"],
                                         weight_decay=h["weight_decay"])),
        ("adam_weight_decay", 9, dict(lr=0.01, beta1=0.9, beta2=0.999, epsilon=1e-8, weight_decay=0.1),
         lambda ps, h: torch.optim.Adam(ps, lr=h["lr"], betas=(h["beta1"], h["beta2"]), eps=h["epsilon"],
                                        weight_decay=h["weight_decay"])),
        ("sgd_weight_decay", 10, dict(lr=0.05, momentum=0.9, nesterov=1, weight_decay=0.1),
         lambda ps, h: torch.optim.SGD(ps, lr=h["lr"], momentum=h["momentum"], nesterov=True,
                                       weight_decay=h["weight_decay"])),
        ("rmsprop_weight_decay", 11, dict(lr=0.01, rho=0.9, epsilon=1e-7, weight_decay=0.1),
         lambda ps, h: torch.optim.RMSprop(ps, lr=h["lr"], alpha=h["rho"], eps=h["epsilon"],
                                           weight_decay=h["weight_decay"])),
    ]
    for name, seed, hyper, make in cases:
        init, grads = fixed_problem(seed)
        after = run_optimizer(lambda ps: make(ps, hyper), init, grads)
        write_case(name, hyper, init, grads, after)

    for name, seed, hyper, make, schedule in group_cases():
        init, grads = fixed_problem(seed)
        after = run_optimizer(lambda ps: make(ps, hyper), init, grads, schedule(hyper))
        write_case(name, hyper, init, grads, after)

    # A batch that gives a parameter no gradient: torch, after zero_grad(set_to_none=False), steps
    # it with a zero gradient (moments decay, the step counts).
    no_grad_cases = [
        ("adam_no_grad", 15, dict(lr=0.01, beta1=0.9, beta2=0.999, epsilon=1e-8, weight_decay=0.0),
         lambda ps, h: torch.optim.Adam(ps, lr=h["lr"], betas=(h["beta1"], h["beta2"]), eps=h["epsilon"])),
        ("adamw_no_grad", 16, dict(lr=0.05, beta1=0.8, beta2=0.99, epsilon=1e-8, weight_decay=0.2),
         lambda ps, h: torch.optim.AdamW(ps, lr=h["lr"], betas=(h["beta1"], h["beta2"]), eps=h["epsilon"],
                                         weight_decay=h["weight_decay"])),
        ("sgd_no_grad", 17, dict(lr=0.05, momentum=0.9, nesterov=0, weight_decay=0.05),
         lambda ps, h: torch.optim.SGD(ps, lr=h["lr"], momentum=h["momentum"], weight_decay=h["weight_decay"])),
        ("rmsprop_no_grad", 18, dict(lr=0.01, rho=0.9, epsilon=1e-7, weight_decay=0.05),
         lambda ps, h: torch.optim.RMSprop(ps, lr=h["lr"], alpha=h["rho"], eps=h["epsilon"],
                                           weight_decay=h["weight_decay"])),
    ]
    for name, seed, hyper, make in no_grad_cases:
        init, grads = no_grad_problem(seed)
        after = run_optimizer(lambda ps: make(ps, hyper), init, grads)
        write_case(name, hyper, init, grads, after, NOGRAD)

    # clip_grad_norm_: "step" k clips gradient set k of a fresh problem with max_norm chosen so
    # that some sets are clipped and some are not; "param" holds the clipped gradients and
    # hyper norm_<k> the returned norm.
    init, grads = fixed_problem(7)
    hyper = {"max_norm": 1.5}
    clipped = []
    for k in range(STEPS):
        params = [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in init]
        for p, g in zip(params, grads[k]):
            p.grad = torch.tensor(g, dtype=torch.float64)
        norm = torch.nn.utils.clip_grad_norm_(params, hyper["max_norm"])
        hyper[f"norm_{k + 1}"] = float(norm)
        clipped.append([p.grad.numpy().copy() for p in params])
    write_case("clip_grad_norm", hyper, init, grads, clipped)
    return 0


if __name__ == "__main__":
    sys.exit(main())
