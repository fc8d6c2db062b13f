#!/usr/bin/python3
"""Writes tests/goldens/time_series.json: fingerprints of the time-series data of Geron's
ch. 15 notebook (ageron/handson-ml2, 15_processing_sequences_using_rnns_and_cnns.ipynb),
generated with numpy exactly as the notebook does, so that tg::generate_time_series can be
checked bit for bit without Python.

Run from anywhere: /usr/bin/python3 scripts/make_data_goldens.py
"""

import json
import os
import subprocess
import sys

try:
    import numpy as np
except ImportError:  # Debian's numpy, as the project's other scripts use
    subprocess.run(["apt-get", "install", "-y", "python3-numpy"], check=True)
    import numpy as np


# The notebook's definition, verbatim.
def generate_time_series(batch_size, n_steps):
    freq1, freq2, offsets1, offsets2 = np.random.rand(4, batch_size, 1)
    time = np.linspace(0, 1, n_steps)
    series = 0.5 * np.sin((time - offsets1) * (freq1 * 10 + 10))  #   wave 1
    series += 0.2 * np.sin((time - offsets2) * (freq2 * 20 + 20)) # + wave 2
    series += 0.1 * (np.random.rand(batch_size, n_steps) - 0.5)   # + noise
    return series[..., np.newaxis].astype(np.float32)


# The same computation stopped before the cast to float32, to pin the float64 arithmetic too.
def generate_time_series_f64(batch_size, n_steps):
    freq1, freq2, offsets1, offsets2 = np.random.rand(4, batch_size, 1)
    time = np.linspace(0, 1, n_steps)
    series = 0.5 * np.sin((time - offsets1) * (freq1 * 10 + 10))
    series += 0.2 * np.sin((time - offsets2) * (freq2 * 20 + 20))
    series += 0.1 * (np.random.rand(batch_size, n_steps) - 0.5)
    return series[..., np.newaxis]


def fingerprint(series, indices):
    """First 20 values, float64 sums and values at `indices`. Floats are written with repr(),
    which round-trips exactly (a float32 value is exactly representable as a double)."""
    flat = series.reshape(-1)
    wide = flat.astype(np.float64)
    return {
        "shape": list(series.shape),
        "dtype": str(series.dtype),
        "first": [float(v) for v in flat[:20]],
        "sum": float(wide.sum()),
        "sum_squares": float((wide * wide).sum()),
        "values": [{"index": list(i), "value": float(series[i])} for i in indices],
    }


def main():
    np.random.seed(42)
    one_step = generate_time_series(10000, 51)
    np.random.seed(42)
    one_step_f64 = generate_time_series_f64(10000, 51)
    assert np.array_equal(one_step, one_step_f64.astype(np.float32))

    np.random.seed(42)
    ten_step = generate_time_series(10000, 60)
    np.random.seed(42)
    ten_step_f64 = generate_time_series_f64(10000, 60)
    assert np.array_equal(ten_step, ten_step_f64.astype(np.float32))

    # The notebook's naive forecasts, on the validation split (rows 7000..8999).
    n_steps = 50
    X_valid, y_valid = one_step[7000:9000, :n_steps], one_step[7000:9000, -1]
    naive_one = np.mean((X_valid[:, -1].astype(np.float64) - y_valid) ** 2)
    X_valid, Y_valid = ten_step[7000:9000, :n_steps], ten_step[7000:9000, -10:, 0]
    naive_ten = np.mean((X_valid[:, -1].astype(np.float64) - Y_valid) ** 2)  # [2000,1] vs [2000,10]

    idx51 = [(0, 0, 0), (0, 50, 0), (1, 0, 0), (1234, 17, 0), (6999, 49, 0), (7000, 0, 0),
             (8999, 50, 0), (9000, 25, 0), (9999, 50, 0)]
    idx60 = [(0, 0, 0), (0, 59, 0), (1, 0, 0), (1234, 17, 0), (6999, 49, 0), (7000, 0, 0),
             (8999, 59, 0), (9000, 25, 0), (9999, 59, 0)]
    golden = {
        "source": "scripts/make_data_goldens.py, numpy " + np.__version__,
        "seed": 42,
        "one_step": fingerprint(one_step, idx51),
        "one_step_f64": fingerprint(one_step_f64, idx51),
        "ten_step": fingerprint(ten_step, idx60),
        "ten_step_f64": fingerprint(ten_step_f64, idx60),
        "naive_one_step_valid_mse": float(naive_one),
        "naive_ten_step_valid_mse": float(naive_ten),
    }

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(root, "tests", "goldens", "time_series.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)
    print(f"wrote {path}: naive one-step MSE {naive_one:.6f}, ten-step {naive_ten:.6f}")


if __name__ == "__main__":
    sys.exit(main())
