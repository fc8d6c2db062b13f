#!/usr/bin/python3
"""Writes tests/goldens/windows.txt: windows cut from small series by a numpy reference of Keras'
timeseries_dataset_from_array (keras/utils/timeseries_dataset_utils.py), for tg::WindowSet.

Keras cuts inputs from `data` and pairs window i with `targets[i]`; a forecaster passes the targets
shifted by the window's length. The reference does exactly that, with the targets built by numpy
shifts of the target column: for [N, H] targets, targets[i, k-1] = col[i + (T-1+k)*r]; for sequence
targets, targets[i, t, k-1] = col[i + (t+k)*r]. Keras' number of windows is
min(end - begin - (T-1)*r, len(targets)) starts, every `stride`-th.

Format, one case after another:
  case NAME
  options L F T H STRIDE RATE TARGET SEQ BEGIN END K c1 .. cK   (K input columns, 0: every column)
  series v1 .. v(L*F)                                           (row-major [L, F])
  x D1 D2 D3 v...                                                ([N, T, F'])
  y R D1 .. DR v...                                              ([N, H] or [N, T, H])

Run: /usr/bin/python3 scripts/make_window_goldens.py
"""

import os
import subprocess

try:
    import numpy as np
except ImportError:  # Debian's numpy, as the project's other scripts use
    subprocess.run(["apt-get", "install", "-y", "python3-numpy"], check=True)
    import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "goldens", "windows.txt")


def keras_windows(data, targets, length, stride, rate, begin, end):
    """timeseries_dataset_from_array's indexing, in numpy (no batching, no shuffling)."""
    num_seqs = end - begin - (length - 1) * rate
    if targets is not None:
        num_seqs = min(num_seqs, len(targets))
    starts = np.arange(0, num_seqs, stride)
    steps = starts[:, None] + np.arange(length)[None, :] * rate
    x = data[begin:end][steps]
    y = targets[starts]
    return x, y


def shifted_targets(column, length, horizon, rate, seq):
    """Targets aligned with window starts, as numpy shifts of the target column: one row for every
    start whose last target is still in the column."""
    count = max(len(column) - (length - 1 + horizon) * rate, 0)
    if not seq:
        # targets[i, k-1] = column[i + (length - 1 + k) * rate]
        return np.stack([column[(length - 1 + k) * rate:][:count] for k in range(1, horizon + 1)], axis=1)
    # targets[i, t, k-1] = column[i + (t + k) * rate]
    return np.stack([np.stack([column[(t + k) * rate:][:count] for k in range(1, horizon + 1)], axis=1)
                     for t in range(length)], axis=1)


def case(out, name, rng, L, F, T, H, stride=1, rate=1, target=0, seq=False, begin=0, end=None, inputs=()):
    series = np.round(rng.uniform(-5, 5, size=(L, F)), 6)
    end = L if end is None else end
    part = series[begin:end]
    targets = shifted_targets(part[:, target], T, H, rate, seq)
    cols = list(inputs) if inputs else list(range(F))
    x, y = keras_windows(series[:, cols], targets, T, stride, rate, begin, end)
    out.append("case " + name)
    out.append("options %d %d %d %d %d %d %d %d %d %d %d %s" % (
        L, F, T, H, stride, rate, target, int(seq), begin, end, len(inputs), " ".join(map(str, inputs))))
    out.append("series " + " ".join(repr(float(v)) for v in series.ravel()))
    out.append("x " + " ".join(map(str, x.shape)) + " " + " ".join(repr(float(v)) for v in x.ravel()))
    out.append("y %d " % y.ndim + " ".join(map(str, y.shape)) + " " + " ".join(repr(float(v)) for v in y.ravel()))


def main():
    rng = np.random.default_rng(25)
    out = []
    case(out, "one_feature", rng, L=30, F=1, T=5, H=1)
    case(out, "horizon_3_stride_2_three_features", rng, L=31, F=3, T=4, H=3, stride=2, target=2)
    case(out, "input_columns", rng, L=20, F=3, T=3, H=2, target=1, inputs=(2, 0))
    case(out, "sampling_rate_2_stride_3", rng, L=40, F=2, T=3, H=2, stride=3, rate=2, target=1)
    case(out, "sequence_targets", rng, L=25, F=1, T=6, H=2, seq=True)
    case(out, "sequence_targets_rate_2", rng, L=33, F=2, T=4, H=3, stride=2, rate=2, seq=True)
    case(out, "range", rng, L=40, F=1, T=5, H=2, stride=2, begin=5, end=27)
    case(out, "exactly_one_window", rng, L=12, F=2, T=7, H=5)
    with open(OUT, "w") as f:
        f.write("# Written by scripts/make_window_goldens.py: Keras' timeseries_dataset_from_array indexing in numpy.\n")
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
