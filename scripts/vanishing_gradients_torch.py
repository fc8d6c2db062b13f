"""The vanishing_gradients example's measurement at initialisation, redone with PyTorch.

An independent check of what examples/vanishing_gradients reports: SimpleRNN(16) and LSTM(16)
with Keras' initialisation (glorot_uniform input kernel, orthogonal recurrent kernel, zero
biases, LSTM forget bias 1), on T uniform(-1, 1) inputs with the first one as the target. For each
model: mean over batches of ||dLoss/dx_t|| and ||dLoss/dh_t||, and the ratio of t = 0 to t = T-1.
Nothing in the test suite depends on it. Run with Debian's python3-torch:

    /usr/bin/python3 scripts/vanishing_gradients_torch.py [T] [seeds]
"""
import math
import sys

import torch

UNITS, BATCH, BATCHES = 16, 32, 8


def keras_cell(kind, chrono_lag=0):
    gates = 4 if kind != "rnn" else 1
    cell = torch.nn.LSTMCell(1, UNITS) if gates == 4 else torch.nn.RNNCell(1, UNITS)
    with torch.no_grad():
        kernel = torch.empty(1, gates * UNITS)  # Keras layouts: [F, gU] and [U, gU]
        torch.nn.init.xavier_uniform_(kernel)
        recurrent = torch.empty(UNITS, gates * UNITS)
        torch.nn.init.orthogonal_(recurrent)
        cell.weight_ih.copy_(kernel.T)
        cell.weight_hh.copy_(recurrent.T)
        cell.bias_ih.zero_()
        cell.bias_hh.zero_()
        if gates == 4:
            cell.bias_ih[UNITS:2 * UNITS] = 1.0
            if chrono_lag:
                b_f = torch.log(torch.empty(UNITS).uniform_(1.0, chrono_lag - 1.0))
                cell.bias_ih[UNITS:2 * UNITS] = b_f
                cell.bias_ih[:UNITS] = -b_f
    return cell


def ratios(kind, steps, chrono=False):
    cell = keras_cell(kind, steps if chrono else 0)
    dense = torch.nn.Linear(UNITS, 1)
    x_norms, h_norms = torch.zeros(steps), torch.zeros(steps)
    for _ in range(BATCHES):
        x = (torch.rand(BATCH, steps, 1) * 2 - 1).requires_grad_()
        h = torch.zeros(BATCH, UNITS)
        c = torch.zeros_like(h)
        hs = []
        for t in range(steps):
            if kind == "rnn":
                h = cell(x[:, t], h)
            else:
                h, c = cell(x[:, t], (h, c))
            h.retain_grad()
            hs.append(h)
        loss = ((dense(h) - x[:, 0].detach()) ** 2).mean()
        loss.backward()
        x_norms += x.grad[:, :, 0].norm(dim=0) / BATCHES
        h_norms += torch.stack([hh.grad.norm() for hh in hs]) / BATCHES
    return (x_norms[0] / x_norms[-1]).item(), (h_norms[0] / h_norms[-1]).item()


def main():
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    seeds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    print(f"T = {steps}: first/last ratio of ||dLoss/dx_t|| (x) and ||dLoss/dh_t|| (h) at initialisation")
    for seed in range(seeds):
        row = []
        for name, kind, chrono in (("SimpleRNN", "rnn", False), ("LSTM", "lstm", False), ("LSTM-chrono", "lstm", True)):
            torch.manual_seed(seed)
            rx, rh = ratios(kind, steps, chrono)
            row.append(f"{name} x {rx:.1e} h {rh:.1e}")
        print(f"seed {seed}: " + " | ".join(row))


if __name__ == "__main__":
    main()
