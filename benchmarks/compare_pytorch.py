#!/usr/bin/python3
"""Side-by-side training speed, memory and inference latency: tapegrad against PyTorch (and
LibTorch for latency) on the same machine.

Training workloads: for each, one training epoch (same model, data shapes, batch size, Adam, loss)
in tapegrad (build/benchmarks/tapegrad_train_bench) and in PyTorch, each in its own process,
alternating A B A B, medians over --repeats runs. With --epochs E each process trains E epochs
(a new shuffle each) and reports its median epoch. Each row is checked against the floors of
issue #26 (speed-up over PyTorch, and tapegrad's peak memory at most a fifth of PyTorch's).

  simple_rnn deep_rnn seq2seq lstm gru   the walkthrough's models (hidden 20 or 1, 50 steps)
  large_rnn                              SimpleRNN(256) x2 + Dense, 100 steps, batch 64
  xlarge_rnn                             the same at hidden 512 (1024 sequences)
  latency                                inference: predict on ONE sequence of 50 steps with the
                                         deep_rnn model, p50 and p99 over --calls calls after
                                         --warmup-calls, in tapegrad, PyTorch (eval mode,
                                         torch.no_grad) and LibTorch (build/benchmarks/
                                         tapegrad_libtorch_latency, when it was built)

Threads: --threads N (or "default": the CPUs this process may use, os.sched_getaffinity) sets both
sides: PyTorch with torch.set_num_threads(N) and set_num_interop_threads(1), tapegrad with the
environment variable TAPEGRAD_NUM_THREADS=N and --threads N (OMP_NUM_THREADS and
OPENBLAS_NUM_THREADS are set to N for both). --scaling adds, for large_rnn and xlarge_rnn
(--scaling-workloads), runs at 1 thread, at N and at the machine's default, with tapegrad's own
scaling (its 1-thread epoch over its K-thread epoch) next to the machine's ceiling: K independent
single-thread tapegrad processes run at once, their combined throughput over one run alone.

Output: one JSON line per row on stdout as the rows complete ("kind": "training", "latency" or
"scaling"), then markdown tables with pass/fail against the floors; --json PATH also writes all
rows to one file. Exit status 0, or 1 with --check when a row misses a floor.

Usage: /usr/bin/python3 benchmarks/compare_pytorch.py [--workloads a,b] [--repeats N]
           [--epochs E] [--threads K|default] [--scaling] [--calls C] [--hidden H] [--steps T]
           [--batch B] [--sequences N] [--omp-wait-policy passive|active] [--bench PATH]
           [--libtorch-bench PATH] [--json PATH] [--check]
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
    "xlarge_rnn": (512, 100, 64, 1024),  # large_rnn at hidden 512, half the sequences
    "lstm": (20, 50, 32, 7000),  # deep_rnn with LSTM layers: LSTM(20, seq) + LSTM(20) + Dense(1)
    "gru": (20, 50, 32, 7000),  # the same with GRU layers
    "latency": (20, 50, 1, 1),  # the deep_rnn model, one sequence, inference only
}
DEFAULT_WORKLOADS = "simple_rnn,deep_rnn,seq2seq,large_rnn,lstm,gru,latency"
# Issue #26: tapegrad's speed-up over PyTorch, at one thread and at the machine's default for both.
FLOORS = {"simple_rnn": 50.0, "deep_rnn": 20.0, "seq2seq": 20.0, "lstm": 15.0, "gru": 15.0, "large_rnn": 1.5}
MEMORY_FLOOR = 5.0  # PyTorch's peak RSS over tapegrad's, at least
SCALING_FLOORS = {"large_rnn": 0.85}  # tapegrad's 1 -> K thread speed-up over the machine's ceiling
BUSY_CEILING = 0.75  # a ceiling under 0.75 K: other work held the cores, the scaling is not tapegrad's


def default_threads():
    """The number of CPUs this process may use (its affinity mask, not the machine's count)."""
    return len(os.sched_getaffinity(0))


def positive_int(text):
    try:
        n = int(text, 10)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got '{text}'")
    return n


def non_negative_int(text):
    try:
        n = int(text, 10)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 0 (0: the workload's), got '{text}'")
    return n


def thread_count(text):
    if text == "default":
        return default_threads()
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected a thread count of at least 1 or 'default' ({default_threads()} here), got '{text}'") from None


def percentile(values, p):
    """The p-th percentile by nearest rank, as the C++ harnesses: p99 of 1000 values is the 990th."""
    s = sorted(values)
    rank = -(-p * len(s) // 100)  # ceil
    return s[min(max(int(rank), 1), len(s)) - 1]


def ensure_torch():
    # Looked up, not imported: a child's peak RSS starts from its parent's at fork (Linux keeps
    # ru_maxrss across exec), so this process must stay small.
    import importlib.util
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("numpy") is None:
        print("compare_pytorch: installing python3-torch and python3-numpy", file=sys.stderr)
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "python3-torch", "python3-numpy"], check=True,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


def torch_threads(torch, n):
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # only settable before the first inter-op work; nothing ran yet here
        pass


def torch_model(torch, workload, hidden):
    seq = workload == "seq2seq"

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            if workload == "simple_rnn":
                self.rnn1 = torch.nn.RNN(1, hidden, batch_first=True)
                self.rnn2 = None
                self.out = None
            else:
                cell = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}.get(workload, torch.nn.RNN)
                self.rnn1 = cell(1, hidden, batch_first=True)
                self.rnn2 = cell(hidden, hidden, batch_first=True)
                self.out = torch.nn.Linear(hidden, 10 if seq else 1)

        def forward(self, x):
            h, _ = self.rnn1(x)
            if self.rnn2 is None:
                return h[:, -1]
            h, _ = self.rnn2(h)
            return self.out(h if seq else h[:, -1])

    return Model()


def pytorch_worker(args):
    """One timed run in PyTorch (runs in its own process); prints a JSON line."""
    import numpy as np
    import torch
    torch_threads(torch, args.threads)
    torch.manual_seed(42)
    hidden, steps, batch, sequences = sizes(args)
    if args.workload == "latency":
        return pytorch_latency(torch, args, hidden, steps)
    seq = args.workload == "seq2seq"
    rng = np.random.default_rng(42)
    x = torch.tensor(rng.standard_normal((sequences, steps, 1)) * 0.3, dtype=torch.float32)
    y = torch.tensor(rng.standard_normal((sequences, steps, 10) if seq else (sequences, 1)), dtype=torch.float32)
    model = torch_model(torch, args.workload, hidden)
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
    print(json.dumps({"workload": args.workload, "seconds": seconds, "rss_mb": rss, "loss": float(loss),
                      "threads": args.threads, "torch_threads": torch.get_num_threads()}))


def pytorch_latency(torch, args, hidden, steps):
    model = torch_model(torch, "deep_rnn", hidden)
    model.eval()
    x = torch.randn(1, steps, 1) * 0.3
    us = []
    with torch.no_grad():
        for _ in range(args.warmup_calls):
            float(model(x))
        for _ in range(args.calls):
            t0 = time.perf_counter()
            float(model(x))
            us.append((time.perf_counter() - t0) * 1e6)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"workload": "latency", "impl": "pytorch", "model": "deep_rnn", "p50_us": percentile(us, 50),
                      "p99_us": percentile(us, 99), "mean_us": statistics.fmean(us), "min_us": min(us),
                      "calls": args.calls, "warmup_calls": args.warmup_calls, "rss_mb": rss, "hidden": hidden,
                      "steps": steps, "threads": args.threads, "torch_threads": torch.get_num_threads()}))


def sizes(args):
    hidden, steps, batch, sequences = WORKLOADS[args.workload]
    if args.workload == "latency":  # one sequence: only the model's and the sequence's sizes apply
        return (args.hidden or hidden, args.steps or steps, batch, sequences)
    return (args.hidden or hidden, args.steps or steps, args.batch or batch, args.sequences or sequences)


OMP_WAIT_POLICY = None  # --omp-wait-policy: None leaves each library's default
KERNEL_ISA = None  # --isa: tapegrad's kernel path (TAPEGRAD_ISA); None leaves its default


def thread_env(threads):
    env = dict(os.environ)
    for name in ("TAPEGRAD_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(threads)
    if OMP_WAIT_POLICY:
        env["OMP_WAIT_POLICY"] = OMP_WAIT_POLICY
    if KERNEL_ISA:
        env["TAPEGRAD_ISA"] = KERNEL_ISA
    return env


def last_json(out):
    return json.loads(out.strip().splitlines()[-1])


def run_json(cmd, threads):
    try:
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=thread_env(threads)).stdout
    except subprocess.CalledProcessError as e:
        sys.exit(f"compare_pytorch: {' '.join(cmd)} failed ({e.returncode}):\n{e.stderr}")
    return last_json(out)


def run_together(cmd, copies):
    """`copies` single-thread processes of cmd started at once; their JSON lines."""
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=thread_env(1))
             for _ in range(copies)]
    results = []
    for p in procs:
        out, err = p.communicate()
        if p.returncode != 0:
            sys.exit(f"compare_pytorch: {' '.join(cmd)} failed ({p.returncode}):\n{err}")
        results.append(last_json(out))
    return results


class Runner:
    def __init__(self, args):
        self.args = args

    def common(self, w):
        a = self.args
        hidden, steps, batch, sequences = sizes(argparse.Namespace(**dict(vars(a), workload=w)))
        return ["--hidden", str(hidden), "--steps", str(steps), "--batch", str(batch), "--sequences", str(sequences),
                "--epochs", str(a.epochs)], (hidden, steps, batch, sequences)

    def tapegrad_cmd(self, w, threads):
        return [self.args.bench, "--workload", w, "--threads", str(threads)] + self.common(w)[0]

    def pytorch_cmd(self, w, threads):
        return [sys.executable, os.path.abspath(__file__), "--worker", "pytorch", "--workload", w,
                "--threads", str(threads)] + self.common(w)[0]

    def training_row(self, w, threads, kind="training"):
        a = self.args
        tg_runs, pt_runs = [], []
        for _ in range(a.repeats):  # A B A B: both sides see the same machine noise
            tg_runs.append(run_json(self.tapegrad_cmd(w, threads), threads))
            pt_runs.append(run_json(self.pytorch_cmd(w, threads), threads))
        return training_summary(w, threads, tg_runs, pt_runs, a, self.common(w)[1], kind)

    def latency_row(self, threads):
        a = self.args
        hidden, steps, _, _ = self.common("latency")[1]
        calls = ["--calls", str(a.calls), "--warmup-calls", str(a.warmup_calls), "--hidden", str(hidden),
                 "--steps", str(steps), "--threads", str(threads)]
        cmds = {"tapegrad": [a.bench, "--workload", "latency"] + calls,
                "pytorch": [sys.executable, os.path.abspath(__file__), "--worker", "pytorch", "--workload", "latency"]
                + calls}
        if os.access(a.libtorch_bench, os.X_OK):
            cmds["libtorch"] = [a.libtorch_bench] + calls
        else:
            print(f"compare_pytorch: {a.libtorch_bench} not built (LibTorch not found): latency without LibTorch",
                  file=sys.stderr)
        runs = {impl: [] for impl in cmds}
        for _ in range(a.repeats):
            for impl, cmd in cmds.items():
                runs[impl].append(run_json(cmd, threads))
        return latency_summary(runs, threads, a, hidden, steps)

    def scaling_rows(self, w, counts):
        """Rows at each thread count of `counts` (1 first), with tapegrad's scaling and the ceiling."""
        a = self.args
        tg = {c: [] for c in counts}
        pt = {c: [] for c in counts}
        ceiling = {c: [] for c in counts if c > 1}
        for _ in range(a.repeats):
            for c in counts:
                tg[c].append(run_json(self.tapegrad_cmd(w, c), c))
                pt[c].append(run_json(self.pytorch_cmd(w, c), c))
            for c in ceiling:
                together = run_together(self.tapegrad_cmd(w, 1), c)
                ceiling[c].append(together)
        rows = []
        for c in counts:
            row = training_summary(w, c, tg[c], pt[c], a, self.common(w)[1], "scaling")
            if c > 1:
                row.update(scaling_summary(w, [r["seconds"] for r in tg[1]], [r["seconds"] for r in tg[c]],
                                           [[r["seconds"] for r in group] for group in ceiling[c]]))
            rows.append(row)
        return rows


def training_summary(w, threads, tg_runs, pt_runs, a, shape, kind):
    tg_s = statistics.median(r["seconds"] for r in tg_runs)
    pt_s = statistics.median(r["seconds"] for r in pt_runs)
    tg_rss = statistics.median(r["rss_mb"] for r in tg_runs)
    pt_rss = statistics.median(r["rss_mb"] for r in pt_runs)
    hidden, steps, batch, sequences = shape
    row = {"kind": kind, "workload": w, "threads": threads, "tapegrad_s": round(tg_s, 5), "pytorch_s": round(pt_s, 5),
           "speedup": round(pt_s / tg_s, 2), "tapegrad_rss_mb": round(tg_rss, 1), "pytorch_rss_mb": round(pt_rss, 1),
           "repeats": a.repeats, "epochs": a.epochs, "hidden": hidden, "steps": steps, "batch": batch,
           "sequences": sequences, "isa": tg_runs[0].get("isa")}
    row.update(floor_verdict(w, row["speedup"], tg_rss, pt_rss, default_sizes=shape == WORKLOADS[w]))
    return row


def floor_verdict(w, speedup, tg_rss, pt_rss, default_sizes=True):
    """Issue #26's floors for one training row: the speed-up floor (None when the workload has
    none, or runs at other sizes than its own) and the memory floor (at most a fifth of PyTorch's;
    None for a workload outside the floors' list, as xlarge_rnn, whose ratio is still reported)."""
    floor = FLOORS.get(w) if default_sizes else None
    speed_ok = None if floor is None else speedup >= floor
    memory_ok = (tg_rss * MEMORY_FLOOR <= pt_rss) if w in FLOORS else None
    return {"floor": floor, "speed_pass": speed_ok, "memory_ratio": round(pt_rss / tg_rss, 1) if tg_rss else None,
            "memory_pass": memory_ok, "pass": memory_ok is not False and speed_ok is not False}


def scaling_summary(w, tg1, tgk, groups):
    """tapegrad's 1 -> K speed-up and the machine's ceiling, medians of the per-repeat ratios:
    tg1[r] / tgk[r], and tg1[r] * sum(1 / s for s in groups[r]) (K single-thread processes at once,
    their combined throughput over one run alone)."""
    scaling = statistics.median(t1 / tk for t1, tk in zip(tg1, tgk))
    ceiling = statistics.median(t1 * sum(1.0 / s for s in group) for t1, group in zip(tg1, groups))
    efficiency = scaling / ceiling
    floor = SCALING_FLOORS.get(w)
    k = len(groups[0])
    return {"tapegrad_scaling": round(scaling, 3), "ceiling": round(ceiling, 3), "of_ceiling": round(efficiency, 3),
            "scaling_floor": floor, "scaling_pass": None if floor is None else efficiency >= floor,
            "machine_busy": ceiling < BUSY_CEILING * k}


def latency_summary(runs, threads, a, hidden, steps):
    row = {"kind": "latency", "workload": "latency", "threads": threads, "isa": runs["tapegrad"][0].get("isa"),
           "calls": a.calls,
           "warmup_calls": a.warmup_calls, "repeats": a.repeats, "hidden": hidden, "steps": steps}
    for impl, rs in runs.items():
        row[f"{impl}_p50_us"] = round(statistics.median(r["p50_us"] for r in rs), 2)
        row[f"{impl}_p99_us"] = round(statistics.median(r["p99_us"] for r in rs), 2)
    for impl in runs:
        if impl != "tapegrad":
            for p in ("p50", "p99"):
                row[f"{impl}_over_tapegrad_{p}"] = round(row[f"{impl}_{p}_us"] / row[f"tapegrad_{p}_us"], 1)
    return row


def fmt_time(seconds):
    return f"{seconds:.3g} s" if seconds >= 1 else f"{seconds * 1e3:.3g} ms"


def verdict(ok):
    return "—" if ok is None else ("pass" if ok else "FAIL")


def markdown(rows):
    """The rows as markdown tables: training, latency, scaling (those present)."""
    out = []
    training = [r for r in rows if r["kind"] == "training"]
    if training:
        out += ["| workload | threads | tapegrad | PyTorch | speed-up | floor | speed | peak RSS tapegrad / PyTorch "
                f"| memory (at most 1/{MEMORY_FLOOR:g}) |",
                "|---|---:|---:|---:|---:|---:|---|---:|---|"]
        for r in training:
            floor = "—" if r["floor"] is None else f"{r['floor']:g}x"
            out.append(f"| {r['workload']} | {r['threads']} | {fmt_time(r['tapegrad_s'])} | {fmt_time(r['pytorch_s'])} "
                       f"| {r['speedup']:.3g}x | {floor} | {verdict(r['speed_pass'])} "
                       f"| {r['tapegrad_rss_mb']:.1f} / {r['pytorch_rss_mb']:.0f} MB | {verdict(r['memory_pass'])} |")
    for r in (r for r in rows if r["kind"] == "latency"):
        if out:
            out.append("")
        out += [f"Inference latency, deep_rnn on one sequence of {r['steps']} steps, threads {r['threads']}, "
                f"{r['calls']} calls (median of {r['repeats']} runs):", "",
                "| implementation | p50 | p99 | p50 / tapegrad's | p99 / tapegrad's |", "|---|---:|---:|---:|---:|"]
        for impl in ("tapegrad", "pytorch", "libtorch"):
            if f"{impl}_p50_us" not in r:
                continue
            ratio = {p: ("1" if impl == "tapegrad" else f"{r[f'{impl}_over_tapegrad_{p}']:.3g}x") for p in ("p50", "p99")}
            name = {"tapegrad": "tapegrad", "pytorch": "PyTorch (Python)", "libtorch": "LibTorch (C++)"}[impl]
            out.append(f"| {name} | {r[f'{impl}_p50_us']:.1f} us | {r[f'{impl}_p99_us']:.1f} us | {ratio['p50']} "
                       f"| {ratio['p99']} |")
    scaling = [r for r in rows if r["kind"] == "scaling"]
    if scaling:
        if out:
            out.append("")
        out += ["| workload | threads | tapegrad | PyTorch | speed-up | floor | tapegrad 1 -> K | ceiling (K processes) "
                "| of ceiling | scaling floor |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        for r in scaling:
            floor = "—" if r["floor"] is None else f"{r['floor']:g}x {verdict(r['speed_pass'])}"
            k = r["threads"] > 1
            sfloor = "—" if not k or r["scaling_floor"] is None else \
                f"{r['scaling_floor']:.0%} {verdict(r['scaling_pass'])}"
            out.append(f"| {r['workload']} | {r['threads']} | {fmt_time(r['tapegrad_s'])} | {fmt_time(r['pytorch_s'])} "
                       f"| {r['speedup']:.3g}x | {floor} "
                       f"| {(str(r['tapegrad_scaling']) + 'x') if k else '1'} | {(str(r['ceiling']) + 'x') if k else '1'} "
                       f"| {(format(r['of_ceiling'], '.0%')) if k else '—'} | {sfloor} |")
        busy = [f"{r['workload']}@{r['threads']}" for r in scaling if r.get("machine_busy")]
        if busy:
            out += ["", f"Busy machine at {', '.join(busy)}: the ceiling is under {BUSY_CEILING:.0%} of K (other work "
                    "held the cores), so the scaling there says little about tapegrad."]
    return "\n".join(out)


def failed(rows):
    return [r for r in rows if r.get("pass") is False or r.get("scaling_pass") is False]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", default=DEFAULT_WORKLOADS,
                   help=f"comma-separated, of {', '.join(WORKLOADS)} (default {DEFAULT_WORKLOADS}); "
                        "empty with --scaling for the scaling rows alone")
    p.add_argument("--repeats", type=positive_int, default=5)
    p.add_argument("--threads", type=thread_count, default=1,
                   help="threads of both sides, at least 1, or 'default': the CPUs this process may use (default 1)")
    p.add_argument("--scaling", action="store_true",
                   help="also run --scaling-workloads at 1 thread, --threads and the default, with the ceiling")
    p.add_argument("--scaling-workloads", default="large_rnn,xlarge_rnn")
    p.add_argument("--calls", type=positive_int, default=1000, help="latency: timed calls per run (default 1000)")
    p.add_argument("--warmup-calls", type=non_negative_int, default=100, help="latency: untimed calls first (100)")
    p.add_argument("--hidden", type=non_negative_int, default=0)
    p.add_argument("--steps", type=non_negative_int, default=0)
    p.add_argument("--batch", type=non_negative_int, default=0)
    p.add_argument("--sequences", type=non_negative_int, default=0)
    p.add_argument("--epochs", type=positive_int, default=1,
                   help="epochs per run on both sides, each run reporting its median epoch (default 1)")
    p.add_argument("--bench", default=os.path.join(ROOT, "build", "benchmarks", "tapegrad_train_bench"))
    p.add_argument("--libtorch-bench", default=os.path.join(ROOT, "build", "benchmarks", "tapegrad_libtorch_latency"))
    p.add_argument("--omp-wait-policy", choices=["passive", "active"],
                   help="OMP_WAIT_POLICY for both sides (default: unset, each library's own); passive keeps "
                        "PyTorch's OpenMP threads from spinning on a machine shared with other work")
    p.add_argument("--isa", choices=["v2", "v3", "v4", "auto"],
                   help="tapegrad's kernel path (sets TAPEGRAD_ISA); default: the CPU's best")
    p.add_argument("--json", metavar="PATH", help="also write all rows to PATH as one JSON document")
    p.add_argument("--check", action="store_true", help="exit with status 1 when a row misses a floor")
    p.add_argument("--worker", choices=["pytorch"], help=argparse.SUPPRESS)
    p.add_argument("--workload", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return p, args
    for name in ("workloads", "scaling_workloads"):
        names = [w for w in getattr(args, name).split(",") if w]
        for w in names:
            if w not in WORKLOADS or (name == "scaling_workloads" and w == "latency"):
                p.error(f"--{name.replace('_', '-')}: unknown workload '{w}' (known: {', '.join(WORKLOADS)})")
        setattr(args, name, names)
    if not args.workloads and not args.scaling:
        p.error("--workloads is empty and --scaling is not given: nothing to run")
    return p, args


def main(argv=None):
    p, args = parse_args(argv)
    if args.worker == "pytorch":
        return pytorch_worker(args)
    if not os.access(args.bench, os.X_OK):
        p.error(f"{args.bench} not found: build first (ninja -C build tapegrad_train_bench)")
    ensure_torch()
    global OMP_WAIT_POLICY
    OMP_WAIT_POLICY = args.omp_wait_policy and args.omp_wait_policy.upper()
    global KERNEL_ISA
    KERNEL_ISA = args.isa

    runner = Runner(args)
    rows = []

    def emit(row):
        rows.append(row)
        print(json.dumps(row), flush=True)

    for w in args.workloads:
        emit(runner.latency_row(args.threads) if w == "latency" else runner.training_row(w, args.threads))
    if args.scaling:
        counts = sorted({1, args.threads, default_threads()})
        for w in args.scaling_workloads:
            for row in runner.scaling_rows(w, counts):
                emit(row)

    print()
    isas = sorted({r["isa"] for r in rows if r.get("isa")})
    print(f"CPU: {cpu_model()}; {default_threads()} CPUs for this process; tapegrad's kernels: "
          f"{', '.join(isas) or 'unknown'}; repeats {args.repeats}, epochs {args.epochs}; medians; "
          f"OMP_WAIT_POLICY {OMP_WAIT_POLICY or 'unset'}")
    print()
    print(markdown(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": cpu_model(), "cpus": default_threads(), "isa": isas, "omp_wait_policy": OMP_WAIT_POLICY,
                       "argv": sys.argv[1:] if argv is None else argv, "rows": rows}, f, indent=1)
    bad = failed(rows)
    if bad:
        names = ", ".join(f"{r['workload']}@{r['threads']}" for r in bad)
        print(f"\n{len(bad)} row(s) below a floor: {names}")
    return 1 if (args.check and bad) else 0


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
