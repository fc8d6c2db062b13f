#!/usr/bin/python3
"""Writes tests/goldens/softmax_layer.txt: Dense(5, activation="softmax") on x [2, 3, 4] (the last
axis, every time step), as torch.nn.Linear followed by torch.softmax(dim=-1), with the mse against
a random target and backward, for tests/nn/layers/module_tools_test.cpp. The same numbers hold for
Dense(5) followed by a Softmax layer.

Parameters in tapegrad's names and layout: dense.kernel [4, 5] (torch's Linear.weight transposed),
dense.bias [5]. Written in float64 and float32 (inputs rounded to float32 first), in the format of
tests/support/golden_reader.h (see scripts/make_goldens.py).
Run: /usr/bin/python3 scripts/make_softmax_layer_goldens.py
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_goldens import DTYPES, OUT, fmt_line, mse, to_numpy, np, torch  # noqa: E402


def write():
    path = os.path.join(OUT, "softmax_layer.txt")
    rng = np.random.RandomState(7101)
    x = rng.uniform(-2.0, 2.0, size=(2, 3, 4))
    target = rng.dirichlet(np.ones(5), size=(2, 3))
    kernel = rng.uniform(-1.0, 1.0, size=(4, 5))
    bias = rng.uniform(-0.5, 0.5, size=(5,))
    with open(path, "w") as f:
        f.write(f"# torch {torch.__version__}, written by scripts/make_softmax_layer_goldens.py; format in "
                "scripts/make_goldens.py\n")
        f.write("# inputs: x, target, dense.kernel [in, units], dense.bias\n")
        for dtype_name, np_dtype, torch_dtype in DTYPES:
            lin = torch.nn.Linear(4, 5).to(torch_dtype)
            with torch.no_grad():
                lin.weight.copy_(torch.tensor(np.asarray(kernel, dtype=np_dtype).T, dtype=torch_dtype))
                lin.bias.copy_(torch.tensor(np.asarray(bias, dtype=np_dtype), dtype=torch_dtype))
            tx = torch.tensor(np.asarray(x, dtype=np_dtype), dtype=torch_dtype)
            tt = torch.tensor(np.asarray(target, dtype=np_dtype), dtype=torch_dtype)
            pred = torch.softmax(lin(tx), dim=-1)
            loss = mse(pred, tt)
            loss.backward()
            f.write(f"case dense_softmax {dtype_name}\n")
            f.write(fmt_line("input", "x", to_numpy(tx)))
            f.write(fmt_line("input", "target", to_numpy(tt)))
            f.write(fmt_line("input", "dense.kernel", np.asarray(kernel, dtype=np_dtype)))
            f.write(fmt_line("input", "dense.bias", np.asarray(bias, dtype=np_dtype)))
            f.write(fmt_line("value", "prediction", to_numpy(pred)))
            f.write(fmt_line("output", "loss", to_numpy(loss)))
            f.write(fmt_line("grad", "dense.kernel", to_numpy(lin.weight.grad).T))
            f.write(fmt_line("grad", "dense.bias", to_numpy(lin.bias.grad)))
            f.write("end\n")
            print(f"dense_softmax {dtype_name}: loss {loss.item():.6f}")
    print("wrote", os.path.normpath(path))


if __name__ == "__main__":
    write()
