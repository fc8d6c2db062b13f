#!/usr/bin/python3
"""Side-by-side training speed and memory: tapegrad against PyTorch on the same machine.

For each workload it runs one training epoch (same model, data shapes, batch size, Adam, loss)
in tapegrad (build/benchmarks/tapegrad_train_bench) and in PyTorch, each in its own process,
alternating A B A B, and prints one JSON line per workload with the medians. With --epochs E
each process trains E epochs (a new shuffle each) and reports its median epoch: tapegrad's
epoch, many times shorter than PyTorch's, otherwise catches one phase of a machine whose speed
drifts, where PyTorch's averages over several.

  {"workload": ..., "tapegrad_s": ..., "pytorch_s": ..., "speedup": pytorch/tapegrad,
   "tapegrad_rss_mb": ..., "pytorch_rss_mb": ...}

Usage: /usr/bin/python3 benchmarks/compare_pytorch.py [--workloads a,b] [--repeats N]
           [--threads K] [--hidden H] [--steps T] [--batch B] [--sequences N] [--epochs E]
           [--bench PATH]
Installs python3-torch and python3-numpy with apt-get when they are missing (as root).
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKLOADS = {  # hidden, steps, batch, sequences
    "simple_rnn": (1, 50, 32, 7000),
    "deep_rnn": (20, 50, 32, 7000),
    "seq2seq": (20, 50, 32, 7000),
    "large_rnn": (256, 100, 64, 2048),
    "lstm": (20, 50, 32, 7000),  # deep_rnn with LSTM layers: LSTM(20, seq) + LSTM(20) + Dense(1)
    "gru": (20, 50, 32, 7000),  # the same with GRU layers
}


def ensure_torch():
    # Looked up, not imported: a child's peak RSS starts from its parent's at fork (Linux keeps
    # ru_maxrss across exec), so this process must stay small.
    import importlib.util
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("numpy") is None:
        print("compare_pytorch: installing python3-torch and python3-numpy", file=sys.stderr)
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "python3-torch", "python3-numpy"], check=True,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


def pytorch_worker(args):
    """One timed epoch in PyTorch (runs in its own process); prints a JSON line."""
    import numpy as np
    import torch
    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    hidden, steps, batch, sequences = sizes(args)
    seq = args.workload == "seq2seq"

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            if args.workload == "simple_rnn":
                self.rnn1 = torch.nn.RNN(1, hidden, batch_first=True)
                self.rnn2 = None
                self.out = None
            else:
                cell = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}.get(args.workload, torch.nn.RNN)
                self.rnn1 = cell(1, hidden, batch_first=True)
                self.rnn2 = cell(hidden, hidden, batch_first=True)
                self.out = torch.nn.Linear(hidden, 10 if seq else 1)

        def forward(self, x):
            h, _ = self.rnn1(x)
            if self.rnn2 is None:
                return h[:, -1]
            h, _ = self.rnn2(h)
            return self.out(h if seq else h[:, -1])

    rng = np.random.default_rng(42)
    x = torch.tensor(rng.standard_normal((sequences, steps, 1)) * 0.3, dtype=torch.float32)
    y = torch.tensor(rng.standard_normal((sequences, steps, 10) if seq else (sequences, 1)), dtype=torch.float32)
    model = Model()
    opt = torch.optim.Adam(model.parameters(), lr=0.001, eps=1e-7)
    loss_fn = torch.nn.MSELoss()

    def train_batch(idx):
        opt.zero_grad()
        loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
        return loss

    for i in range(min(5, sequences // batch)):
        train_batch(torch.arange(i * batch, (i + 1) * batch))
    epoch_seconds = []
    for _ in range(args.epochs):  # a new shuffle each epoch, as tapegrad_train_bench
        order = torch.randperm(sequences)
        t0 = time.perf_counter()
        for b in range(0, sequences, batch):
            loss = train_batch(order[b:b + batch])
        epoch_seconds.append(time.perf_counter() - t0)
    seconds = statistics.median(epoch_seconds)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"workload": args.workload, "seconds": seconds, "rss_mb": rss, "loss": float(loss)}))


def sizes(args):
    hidden, steps, batch, sequences = WORKLOADS[args.workload]
    return (args.hidden or hidden, args.steps or steps, args.batch or batch, args.sequences or sequences)


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", default="simple_rnn,deep_rnn,seq2seq,large_rnn")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--hidden", type=int, default=0)
    p.add_argument("--steps", type=int, default=0)
    p.add_argument("--batch", type=int, default=0)
    p.add_argument("--sequences", type=int, default=0)
    p.add_argument("--epochs", type=int, default=1,
                   help="epochs per run on both sides, each run reporting its median epoch (default 1)")
    p.add_argument("--bench", default=os.path.join(ROOT, "build", "benchmarks", "tapegrad_train_bench"))
    p.add_argument("--worker", choices=["pytorch"], help=argparse.SUPPRESS)
    p.add_argument("--workload", help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.worker == "pytorch":
        return pytorch_worker(args)

    ensure_torch()
    workloads = [w for w in args.workloads.split(",") if w]
    for w in workloads:
        if w not in WORKLOADS:
            p.error(f"unknown workload '{w}' (known: {', '.join(WORKLOADS)})")
    if not os.access(args.bench, os.X_OK):
        p.error(f"{args.bench} not found: build first (bash scripts/build.sh build)")
    env_threads = {"OMP_NUM_THREADS": str(args.threads), "OPENBLAS_NUM_THREADS": str(args.threads)}
    os.environ.update(env_threads)

    for w in workloads:
        args.workload = w
        hidden, steps, batch, sequences = sizes(args)
        common = ["--hidden", str(hidden), "--steps", str(steps), "--batch", str(batch), "--sequences", str(sequences),
                  "--epochs", str(args.epochs)]
        tg_cmd = [args.bench, "--workload", w, "--threads", str(args.threads)] + common
        pt_cmd = [sys.executable, os.path.abspath(__file__), "--worker", "pytorch", "--workload", w,
                  "--threads", str(args.threads)] + common
        tg_runs, pt_runs = [], []
        for _ in range(args.repeats):  # A B A B: both sides see the same machine noise
            tg_runs.append(run_json(tg_cmd))
            pt_runs.append(run_json(pt_cmd))
        tg_s = statistics.median(r["seconds"] for r in tg_runs)
        pt_s = statistics.median(r["seconds"] for r in pt_runs)
        print(json.dumps({
            "workload": w, "tapegrad_s": round(tg_s, 5), "pytorch_s": round(pt_s, 5),
            "speedup": round(pt_s / tg_s, 2),
            "tapegrad_rss_mb": round(statistics.median(r["rss_mb"] for r in tg_runs), 1),
            "pytorch_rss_mb": round(statistics.median(r["rss_mb"] for r in pt_runs), 1),
            "repeats": args.repeats, "epochs": args.epochs, "threads": args.threads,
            "hidden": hidden, "steps": steps, "batch": batch, "sequences": sequences,
        }), flush=True)


if __name__ == "__main__":
    sys.exit(main())
