#!/usr/bin/python3
"""The walkthrough's two convolutional models in PyTorch, with Keras' defaults, for several
initialisation seeds on the notebook's data (numpy seed 42): the spread between runs that
docs/forecast-spread.md quotes beside tapegrad's.

Models (Géron, HOML 2nd ed., ch. 15):
  wavenet   causal Conv1D(20, k=2, relu) with dilations 1, 2, 4, 8 twice, then Conv1D(10, k=1)
  conv_gru  Conv1D(20, k=4, stride 2, valid), GRU(20) x2 (return sequences), Dense(10) per step,
            trained on Y[:, 3::2]
Keras' defaults: glorot_uniform kernels (a conv kernel [K, F, O] has fan_in K*F, fan_out K*O),
orthogonal recurrent kernels over the whole [u, 3u] matrix, zero biases, GRU reset_after
(torch.nn.GRU's math); Adam lr 1e-3, betas 0.9/0.999, epsilon 1e-7 in Keras' "epsilon hat" form;
batch 32 reshuffled every epoch, last partial batch kept; loss the mean squared error over every
element; metric the MSE of the last time step, on the validation set after each epoch.

Run: /usr/bin/python3 scripts/forecast_conv_torch.py [--seeds 1,2,3] [--models wavenet,conv_gru]
Prints one JSON object per model and seed: the validation last-step MSE after each epoch.
"""

import argparse
import json
import math
import time

import numpy as np
import torch
import torch.nn.functional as F


def generate_time_series(batch_size, n_steps):
    freq1, freq2, offsets1, offsets2 = np.random.rand(4, batch_size, 1)
    time_ = np.linspace(0, 1, n_steps)
    series = 0.5 * np.sin((time_ - offsets1) * (freq1 * 10 + 10))
    series += 0.2 * np.sin((time_ - offsets2) * (freq2 * 20 + 20))
    series += 0.1 * (np.random.rand(batch_size, n_steps) - 0.5)
    return series[..., np.newaxis].astype(np.float32)


def seq2seq_data():
    np.random.seed(42)
    series = generate_time_series(10000, 60)
    x = series[:, :50]
    y = np.empty((10000, 50, 10), dtype=np.float32)
    for k in range(1, 11):
        y[..., k - 1] = series[..., k:k + 50, 0]
    return (torch.tensor(x[:7000]), torch.tensor(y[:7000])), (torch.tensor(x[7000:9000]), torch.tensor(y[7000:9000]))


def glorot(shape, fan_in, fan_out, gen):
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return (torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1).mul(limit).float()


def orthogonal(rows, cols, gen):
    a = torch.randn(max(rows, cols), min(rows, cols), generator=gen, dtype=torch.float64)
    q, r = torch.linalg.qr(a)
    q = q * torch.sign(torch.diagonal(r))
    return (q.T if rows < cols else q).float()


class Conv:
    """Keras' Conv1D on [B, T, F]: kernel [K, F, O], bias [O]."""

    def __init__(self, f, o, k, gen, stride=1, dilation=1, causal=False):
        self.kernel = glorot((k, f, o), k * f, k * o, gen).requires_grad_()
        self.bias = torch.zeros(o, requires_grad=True)
        self.stride, self.dilation = stride, dilation
        self.pad = (k - 1) * dilation if causal else 0

    def params(self):
        return [self.kernel, self.bias]

    def __call__(self, x):
        xc = F.pad(x.permute(0, 2, 1), (self.pad, 0))
        y = F.conv1d(xc, self.kernel.permute(2, 1, 0), self.bias, stride=self.stride, dilation=self.dilation)
        return y.permute(0, 2, 1)


class GRU:
    """Keras' GRU(units, return_sequences=True), reset_after, in torch.nn.GRU (gates r, z, n)."""

    def __init__(self, f, u, gen):
        kernel = glorot((f, 3 * u), f, 3 * u, gen)  # Keras' blocks z, r, h
        rec = orthogonal(u, 3 * u, gen)
        perm = lambda w: torch.cat([w[u:2 * u], w[:u], w[2 * u:]])  # (z, r, h) -> (r, z, n)
        self.gru = torch.nn.GRU(f, u, batch_first=True)
        with torch.no_grad():
            self.gru.weight_ih_l0.copy_(perm(kernel.T))
            self.gru.weight_hh_l0.copy_(perm(rec.T))
            self.gru.bias_ih_l0.zero_()
            self.gru.bias_hh_l0.zero_()

    def params(self):
        return list(self.gru.parameters())

    def __call__(self, x):
        return self.gru(x)[0]


class Dense:
    def __init__(self, f, o, gen):
        self.kernel = glorot((f, o), f, o, gen).requires_grad_()
        self.bias = torch.zeros(o, requires_grad=True)

    def params(self):
        return [self.kernel, self.bias]

    def __call__(self, x):
        return x @ self.kernel + self.bias


class Model:
    def __init__(self, layers, activations):
        self.layers, self.activations = layers, activations

    def params(self):
        return [p for layer in self.layers for p in layer.params()]

    def __call__(self, x):
        for layer, act in zip(self.layers, self.activations):
            x = act(layer(x))
        return x


def wavenet(gen):
    layers, f = [], 1
    for rate in (1, 2, 4, 8) * 2:
        layers.append(Conv(f, 20, 2, gen, dilation=rate, causal=True))
        f = 20
    layers.append(Conv(20, 10, 1, gen))
    return Model(layers, [torch.relu] * 8 + [lambda x: x])


def conv_gru(gen):
    ident = lambda x: x
    return Model([Conv(1, 20, 4, gen, stride=2), GRU(20, 20, gen), GRU(20, 20, gen), Dense(20, 10, gen)], [ident] * 4)


class KerasAdam:
    def __init__(self, params, lr=1e-3, b1=0.9, b2=0.999, eps=1e-7):
        self.params, self.lr, self.b1, self.b2, self.eps, self.t = params, lr, b1, b2, eps, 0
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]

    @torch.no_grad()
    def step(self):
        self.t += 1
        step = self.lr * math.sqrt(1 - self.b2 ** self.t) / (1 - self.b1 ** self.t)
        for p, m, v in zip(self.params, self.m, self.v):
            m.mul_(self.b1).add_(p.grad, alpha=1 - self.b1)
            v.mul_(self.b2).addcmul_(p.grad, p.grad, value=1 - self.b2)
            p.sub_(step * m / (v.sqrt() + self.eps))


def train(name, seed, train_data, valid_data, epochs):
    gen = torch.Generator().manual_seed(seed)
    model = wavenet(gen) if name == "wavenet" else conv_gru(gen)
    (x, y), (xv, yv) = train_data, valid_data
    if name == "conv_gru":
        y, yv = y[:, 3::2], yv[:, 3::2]
    opt = KerasAdam(model.params())
    last_step = []
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), 32):
            idx = order[i:i + 32]
            for p in model.params():
                p.grad = None
            F.mse_loss(model(x[idx]), y[idx]).backward()
            opt.step()
        with torch.no_grad():
            last_step.append(F.mse_loss(model(xv)[:, -1], yv[:, -1]).item())
    return last_step


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="1,2,3,4,5")
    ap.add_argument("--models", default="wavenet,conv_gru")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    train_data, valid_data = seq2seq_data()
    for name in a.models.split(","):
        for seed in (int(s) for s in a.seeds.split(",")):
            t0 = time.time()
            curve = train(name, seed, train_data, valid_data, a.epochs)
            print(json.dumps({"model": name, "seed": seed, "last_time_step_mse": round(curve[-1], 6),
                              "curve": [round(v, 6) for v in curve], "train_s": round(time.time() - t0, 1)}),
                  flush=True)


if __name__ == "__main__":
    main()
