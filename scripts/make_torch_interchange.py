#!/usr/bin/python3
"""Writes tests/goldens/torch/: small torch.nn models (Linear, RNN, LSTM, GRU, Conv1d, LayerNorm,
Embedding; float64 and float32) with seeded weights, each saved as safetensors in torch's
state_dict names (<case>.safetensors), and their predictions on fixed inputs
(predictions.txt, the format of tests/support/golden_reader.h: input x, output y).
tests/nn/recurrent/torch_interchange_test.cpp loads each file into the same tapegrad model and
checks it predicts the same values (docs/interchange.md gives the name map).

Then checks the other direction: from_tapegrad.safetensors, written by tapegrad
(save_torch_safetensors, see the test TorchInterchange.TapegradFileIsCommitted), must load with
load_state_dict(strict=True) into the matching torch model and predict the values tapegrad
predicted (from_tapegrad.txt) to 1e-12.

The safetensors files are written and read by hand (the format is a u64 header length, a JSON
header and raw little-endian buffers), as Debian has no python3-safetensors.

Run from anywhere: /usr/bin/python3 scripts/make_torch_interchange.py [--check-only]
"""

import json
import os
import struct
import subprocess
import sys

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError:  # Debian's packages, as the project's other scripts use
    subprocess.run(["apt-get", "install", "-y", "python3-numpy", "python3-torch"], check=True)
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "goldens", "torch")

ACT = {"linear": lambda x: x, "tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid}


# ---- torch modules that match tapegrad's layers one for one (same index in a Sequential) -------

class Linear(nn.Linear):
    """tapegrad Dense(units, activation): the activation inside the layer."""

    def __init__(self, fan_in, units, act="linear"):
        super().__init__(fan_in, units)
        self.act = act

    def forward(self, x):
        return ACT[self.act](super().forward(x))


def recurrent(base):
    class Recurrent(base):
        """tapegrad SimpleRNN / LSTM / GRU: batch_first, zero initial state, the last output
        unless return_sequences."""

        def __init__(self, fan_in, units, return_sequences=False):
            super().__init__(fan_in, units, batch_first=True)
            self.return_sequences = return_sequences

        def forward(self, x):
            out, _ = super().forward(x)
            return out if self.return_sequences else out[:, -1]

    Recurrent.__name__ = base.__name__
    return Recurrent


RNN, LSTM, GRU = recurrent(nn.RNN), recurrent(nn.LSTM), recurrent(nn.GRU)


class Conv1d(nn.Conv1d):
    """tapegrad Conv1D(filters, kernel_size, padding valid or causal): [B, T, F] in and out."""

    def __init__(self, fan_in, filters, kernel_size, padding="valid", dilation=1, act="linear"):
        super().__init__(fan_in, filters, kernel_size, dilation=dilation)
        self.causal = padding == "causal"
        self.act = act

    def forward(self, x):
        x = x.transpose(1, 2)
        if self.causal:
            x = F.pad(x, ((self.kernel_size[0] - 1) * self.dilation[0], 0))
        return ACT[self.act](super().forward(x).transpose(1, 2))


class LayerNorm(nn.LayerNorm):
    """tapegrad LayerNormalization(epsilon = 1e-5), torch's default eps."""


class Embedding(nn.Embedding):
    """tapegrad Embedding(vocabulary, dim): ids held in a float tensor."""

    def forward(self, x):
        return super().forward(x.long())


def all_layers():
    """The model of the 'all' cases and of from_tapegrad: every mapped layer once."""
    return nn.Sequential(Embedding(7, 3), Conv1d(3, 4, 2, padding="causal", act="relu"), LSTM(4, 5, True),
                         GRU(5, 4, True), RNN(4, 3), LayerNorm(3), Linear(3, 2))


# name -> (model, input features or vocabulary for ids, dtype); tests build the same models.
def cases():
    return {
        "linear_f64": (lambda: nn.Sequential(Linear(3, 5, "tanh"), Linear(5, 4, "relu"), Linear(4, 2)), 3,
                       torch.float64),
        "rnn_f64": (lambda: nn.Sequential(RNN(2, 4, True), RNN(4, 3), Linear(3, 1)), 2, torch.float64),
        "lstm_f64": (lambda: nn.Sequential(LSTM(2, 4, True), Linear(4, 2)), 2, torch.float64),
        "gru_f64": (lambda: nn.Sequential(GRU(2, 4), Linear(4, 1)), 2, torch.float64),
        "conv1d_f64": (lambda: nn.Sequential(Conv1d(2, 3, 3, dilation=2, act="tanh"), Linear(3, 1)), 2,
                       torch.float64),
        "layernorm_f64": (lambda: nn.Sequential(Linear(2, 4), LayerNorm(4), Linear(4, 1)), 2, torch.float64),
        "embedding_f64": (lambda: nn.Sequential(Embedding(6, 3), GRU(3, 2)), "ids6", torch.float64),
        "all_f64": (all_layers, "ids7", torch.float64),
        "all_f32": (all_layers, "ids7", torch.float32),
        "lstm_f32": (lambda: nn.Sequential(LSTM(2, 4), Linear(4, 2)), 2, torch.float32),
    }


BATCH, STEPS = 3, 6

# ---- safetensors by hand ---------------------------------------------------------------------

DTYPES = {torch.float32: "F32", torch.float64: "F64"}
NP_DTYPES = {"F32": "<f4", "F64": "<f8"}


def write_safetensors(path, tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        raw = t.numpy().astype(NP_DTYPES[DTYPES[t.dtype]]).tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    out = {}
    for name, e in header.items():
        begin, end = e["data_offsets"]
        a = np.frombuffer(data[8 + n + begin:8 + n + end], dtype=NP_DTYPES[e["dtype"]]).reshape(e["shape"])
        out[name] = torch.from_numpy(a.copy())
    return out


# ---- goldens ---------------------------------------------------------------------------------

def fmt(values):
    return " ".join(repr(float(v)) for v in values)


def record(role, name, t):
    t = t.detach().to(torch.float64)
    return f"{role} {name} {' '.join(str(d) for d in t.shape)} : {fmt(t.reshape(-1).tolist())}\n"


def make_input(spec, dtype, gen):
    if isinstance(spec, str):  # ids of a vocabulary
        vocabulary = int(spec[3:])
        return torch.randint(0, vocabulary, (BATCH, STEPS), generator=gen).to(dtype)
    return torch.randn(BATCH, STEPS, spec, generator=gen, dtype=torch.float64).to(dtype)


def write_goldens():
    os.makedirs(OUT, exist_ok=True)
    lines = ["# Written by scripts/make_torch_interchange.py: torch.nn predictions of the models whose\n",
             "# weights are in <case>.safetensors (torch state_dict names).\n"]
    for index, (name, (build, spec, dtype)) in enumerate(cases().items()):
        torch.manual_seed(100 + index)
        model = build().to(dtype)
        gen = torch.Generator().manual_seed(200 + index)
        with torch.no_grad():
            for p in model.parameters():  # every weight away from its default (LayerNorm's ones, zeros)
                p.copy_(torch.rand(p.shape, generator=gen, dtype=torch.float64).to(dtype) - 0.5)
        model.eval()
        x = make_input(spec, dtype, gen)
        with torch.no_grad():
            y = model(x)
        write_safetensors(os.path.join(OUT, name + ".safetensors"), model.state_dict(), {"format": "pt"})
        lines.append(f"case {name} {str(dtype).replace('torch.', '')}\n")
        lines.append(record("input", "x", x))
        lines.append(record("output", "y", y))
        lines.append("end\n")
    with open(os.path.join(OUT, "predictions.txt"), "w") as f:
        f.writelines(lines)


def check_from_tapegrad():
    """from_tapegrad.safetensors (written by tapegrad) in torch: load strictly, predict the same."""
    path = os.path.join(OUT, "from_tapegrad.safetensors")
    if not os.path.exists(path):
        print(f"skipped: {path} is not there yet (write it with the test TorchInterchange.TapegradFileIsCommitted)")
        return True
    model = all_layers().to(torch.float64)
    model.load_state_dict(read_safetensors(path), strict=True)
    model.eval()
    x = y = None
    with open(os.path.join(OUT, "from_tapegrad.txt")) as f:
        for line in f:
            parts = line.split()
            if not parts or parts[0] not in ("input", "output"):
                continue
            colon = parts.index(":")
            shape = [int(d) for d in parts[2:colon]]
            t = torch.tensor([float(v) for v in parts[colon + 1:]], dtype=torch.float64).reshape(shape)
            if parts[0] == "input":
                x = t
            else:
                y = t
    with torch.no_grad():
        got = model(x)
    err = (got - y).abs().max().item()
    ok = err <= 1e-12
    print(f"from_tapegrad.safetensors in torch: max |torch - tapegrad| = {err:.3g} ({'ok' if ok else 'FAILED'})")
    return ok


def main():
    torch.set_num_threads(1)
    if "--check-only" not in sys.argv:
        write_goldens()
        print(f"wrote {len(cases())} cases to {os.path.normpath(OUT)}")
    sys.exit(0 if check_from_tapegrad() else 1)


if __name__ == "__main__":
    main()
