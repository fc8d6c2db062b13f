#!/usr/bin/python3
"""The sentiment example's models in PyTorch, to show that the plateau at chance belongs to the
model and its initialisation, not to tapegrad.

The same grammar (sentiment.cpp; numpy draws the reviews, so they are other reviews from the same
distribution), the same model with Keras' initialisers (embedding uniform(-init, init), glorot
kernel, orthogonal recurrent kernel, zero biases, LSTM forget bias 1), the mask done the PyTorch
way (packed sequences: each review runs over its own words only), Adam, batches of 32, binary
cross-entropy on logits. Prints the validation accuracy after every epoch.

    /usr/bin/python3 examples/sentiment/sentiment_pytorch.py --init 0.05    # Keras' init
    /usr/bin/python3 examples/sentiment/sentiment_pytorch.py --init 1 --model lstm

Needs python3-torch and python3-numpy (Debian's packages); nothing in the build or the tests runs it.
"""

import argparse
import time

import numpy as np
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence

POSITIVE = "good great excellent fun lovely wonderful brilliant".split()
NEGATIVE = "bad awful boring terrible dull poor weak".split()
NEGATORS = "not never hardly".split()
INTENSIFIERS = "very really so quite".split()
FILLERS = "the movie was plot acting i think it and a film story is this overall with cast end".split()
VOCAB = ["<pad>"] + POSITIVE + NEGATIVE + NEGATORS + INTENSIFIERS + FILLERS
ID = {w: i for i, w in enumerate(VOCAB)}


def review(rng):
    """(ids, label) as sentiment.cpp's make_review draws them."""
    words = [FILLERS[rng.randint(len(FILLERS))] for _ in range(rng.randint(8))]
    negated = rng.randint(2) == 1
    if negated:
        words.append(NEGATORS[rng.randint(len(NEGATORS))])
    if rng.randint(3) == 0:
        words.append(INTENSIFIERS[rng.randint(len(INTENSIFIERS))])
    positive_word = rng.randint(2) == 1
    words.append((POSITIVE if positive_word else NEGATIVE)[rng.randint(7)])
    words += [FILLERS[rng.randint(len(FILLERS))] for _ in range(rng.randint(5))]
    return [ID[w] for w in words], float(positive_word != negated)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["simple_rnn", "lstm"], default="simple_rnn")
    ap.add_argument("--init", type=float, default=1.0, help="embedding uniform(-init, init); Keras: 0.05")
    ap.add_argument("--dim", type=int, default=32)
    ap.add_argument("--units", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.005)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    torch.set_num_threads(1)
    rng = np.random.RandomState(a.seed)
    torch.manual_seed(a.seed)
    train = [review(rng) for _ in range(6000)]
    val = [review(rng) for _ in range(2000)]

    emb = torch.nn.Embedding(len(VOCAB), a.dim)
    torch.nn.init.uniform_(emb.weight, -a.init, a.init)
    rnn = (torch.nn.RNN if a.model == "simple_rnn" else torch.nn.LSTM)(a.dim, a.units, batch_first=True)
    gates = rnn.weight_ih_l0.shape[0]
    # Keras: glorot over the whole [F, gates * units] kernel, orthogonal [units, gates * units]
    torch.nn.init.uniform_(rnn.weight_ih_l0, -(6 / (a.dim + gates)) ** 0.5, (6 / (a.dim + gates)) ** 0.5)
    torch.nn.init.orthogonal_(rnn.weight_hh_l0)
    torch.nn.init.zeros_(rnn.bias_ih_l0)
    torch.nn.init.zeros_(rnn.bias_hh_l0)
    if a.model == "lstm":
        with torch.no_grad():
            rnn.bias_ih_l0[a.units:2 * a.units] = 1.0
    dense = torch.nn.Linear(a.units, 1)
    torch.nn.init.xavier_uniform_(dense.weight)
    torch.nn.init.zeros_(dense.bias)
    params = [*emb.parameters(), *rnn.parameters(), *dense.parameters()]
    opt = torch.optim.Adam(params, lr=a.lr)
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def forward(batch):
        lengths = torch.tensor([len(ids) for ids, _ in batch])
        x = emb(pad_sequence([torch.tensor(ids) for ids, _ in batch], batch_first=True))
        _, h = rnn(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
        return dense((h[0] if a.model == "lstm" else h)[0])

    val_y = torch.tensor([[y] for _, y in val])
    t0 = time.time()
    for epoch in range(a.epochs):
        order = rng.permutation(len(train))
        for s in range(0, len(train), 32):
            batch = [train[i] for i in order[s:s + 32]]
            opt.zero_grad()
            loss = loss_fn(forward(batch), torch.tensor([[y] for _, y in batch]))
            loss.backward()
            opt.step()
        with torch.no_grad():
            out = forward(val)
            acc = ((out > 0).float() == val_y).float().mean().item()
            print(f"epoch {epoch + 1} val_loss {loss_fn(out, val_y).item():.4f} val_accuracy {acc:.4f} "
                  f"({time.time() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
