"""Smoke test of the PyTorch comparison's harness, no timing (ctest bench_harness_smoke):
the JSON lines of tapegrad_train_bench (a training workload, xlarge_rnn, latency) and of
tapegrad_libtorch_latency when given, their errors on bad flags, compare_pytorch.py's errors on
bad flags (before it needs PyTorch), and its floor, scaling, percentile and table logic on made-up
rows.

  python3 benchmarks/harness/smoke_test.py build/benchmarks/tapegrad_train_bench \
      [build/benchmarks/tapegrad_libtorch_latency]
"""
import importlib.util
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
COMPARE = os.path.join(os.path.dirname(HERE), "compare_pytorch.py")
LATENCY_KEYS = {"workload", "impl", "model", "p50_us", "p99_us", "mean_us", "min_us", "calls", "warmup_calls",
                "rss_mb", "hidden", "steps", "threads"}
TRAINING_KEYS = {"workload", "seconds", "epochs", "batches", "rss_mb", "loss", "hidden", "steps", "batch",
                 "sequences", "threads", "isa"}
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print(f"FAIL: {what}", file=sys.stderr)


def run(cmd, env=None):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)


def json_line(cmd, env=None):
    r = run(cmd, env)
    check(r.returncode == 0, f"{cmd} exits 0 (got {r.returncode}: {r.stderr.strip()})")
    lines = r.stdout.strip().splitlines()
    check(len(lines) == 1, f"{cmd} prints one line (got {len(lines)})")
    try:
        return json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError as e:
        check(False, f"{cmd} prints JSON ({e}): {lines[-1]!r}")
        return {}


def check_latency(row, impl, calls, threads):
    check(LATENCY_KEYS <= set(row), f"{impl} latency keys: missing {sorted(LATENCY_KEYS - set(row))}")
    if not LATENCY_KEYS <= set(row):
        return
    check(row["workload"] == "latency" and row["impl"] == impl and row["model"] == "deep_rnn", f"{impl}: names {row}")
    check(row["calls"] == calls and row["steps"] == 50 and row["hidden"] == 20 and row["threads"] == threads,
          f"{impl}: calls, sizes and threads as asked: {row}")
    check(0 < row["min_us"] <= row["p50_us"] <= row["p99_us"], f"{impl}: 0 < min <= p50 <= p99: {row}")


def rejects(cmd, flag, value):
    r = run(cmd)
    check(r.returncode == 2, f"{cmd} exits 2 (got {r.returncode})")
    check(flag in r.stderr and f"'{value}'" in r.stderr, f"{cmd}: the error names {flag} and '{value}': {r.stderr!r}")


def test_train_bench(bench):
    row = json_line([bench, "--workload", "deep_rnn", "--sequences", "40", "--steps", "5", "--warmup-batches", "1",
                     "--threads", "1"])
    check(TRAINING_KEYS <= set(row), f"training keys: missing {sorted(TRAINING_KEYS - set(row))}")
    if TRAINING_KEYS <= set(row):
        check(row["workload"] == "deep_rnn" and row["sequences"] == 40 and row["batches"] == 2 and row["threads"] == 1,
              f"training row as asked: {row}")
        check(row["seconds"] > 0 and row["rss_mb"] > 0, f"training times and memory: {row}")
    # Without --threads the library's default: here TAPEGRAD_NUM_THREADS, and the row gives the count used.
    env = dict(os.environ, TAPEGRAD_NUM_THREADS="3")
    row = json_line([bench, "--workload", "xlarge_rnn", "--sequences", "2", "--steps", "2", "--batch", "2"], env)
    check(row.get("hidden") == 512 and row.get("threads") == 3, f"xlarge_rnn: hidden 512, threads 3 (from the environment): {row}")
    # The kernel path taken is named, and TAPEGRAD_ISA (compare_pytorch.py --isa) forces the baseline.
    row = json_line([bench, "--workload", "simple_rnn", "--sequences", "4", "--steps", "2", "--batch", "2"],
                    dict(os.environ, TAPEGRAD_ISA="v2"))
    check(row.get("isa") == "v2", f"TAPEGRAD_ISA=v2 runs and names the baseline path: {row}")
    check_latency(json_line([bench, "--workload", "latency", "--calls", "7", "--warmup-calls", "1", "--threads", "1"]),
                  "tapegrad", 7, 1)
    for flag, value in (("--threads", "0"), ("--threads", "abc"), ("--threads", "-1"), ("--threads", "2x"),
                        ("--calls", "0"), ("--hidden", "99999999999")):
        rejects([bench, "--workload", "latency", flag, value], flag, value)
    r = run([bench, "--workload", "nosuch"])
    check(r.returncode == 2 and "unknown workload 'nosuch'" in r.stderr, f"unknown workload: {r.stderr!r}")


def test_libtorch(bench):
    check_latency(json_line([bench, "--calls", "7", "--warmup-calls", "1", "--threads", "1"]), "libtorch", 7, 1)
    for value in ("0", "abc"):
        rejects([bench, "--threads", value], "--threads", value)


def test_compare_arguments(bench):
    for args, flag, value in ((["--threads", "0"], "--threads", "0"), (["--threads", "abc"], "--threads", "abc"),
                              (["--repeats", "0"], "--repeats", "0"), (["--calls", "-3"], "--calls", "-3"),
                              (["--workloads", "deep_rnn,nosuch"], "--workloads", "nosuch"),
                              (["--isa", "v9"], "--isa", "v9")):
        rejects([sys.executable, COMPARE, "--bench", bench] + args, flag, value)


def test_compare_logic():
    spec = importlib.util.spec_from_file_location("compare_pytorch", COMPARE)
    cp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cp)
    check(cp.FLOORS == {"simple_rnn": 50, "deep_rnn": 20, "seq2seq": 20, "lstm": 15, "gru": 15, "large_rnn": 1.5},
          f"issue #26's floors: {cp.FLOORS}")
    values = list(range(1000, 0, -1))  # 1..1000 shuffled by reversal
    check(cp.percentile(values, 50) == 500 and cp.percentile(values, 99) == 990, "nearest-rank p50 500, p99 990")
    check(cp.percentile([3.0], 99) == 3.0, "percentile of one value")
    # Speed floors, memory floor (a fifth), no floor for a workload without one or at other sizes.
    v = cp.floor_verdict("deep_rnn", 20.0, 10.0, 50.0)
    check(v["speed_pass"] is True and v["memory_pass"] is True and v["pass"] is True, f"deep_rnn at its floors: {v}")
    v = cp.floor_verdict("deep_rnn", 19.9, 10.0, 200.0)
    check(v["speed_pass"] is False and v["pass"] is False, f"deep_rnn below 20x fails: {v}")
    v = cp.floor_verdict("large_rnn", 1.6, 10.1, 50.0)
    check(v["speed_pass"] is True and v["memory_pass"] is False and v["pass"] is False, f"memory over a fifth: {v}")
    v = cp.floor_verdict("xlarge_rnn", 0.5, 1.0, 100.0)
    check(v["floor"] is None and v["speed_pass"] is None and v["pass"] is True, f"no floor for xlarge_rnn: {v}")
    v = cp.floor_verdict("xlarge_rnn", 2.0, 30.0, 100.0)
    check(v["memory_pass"] is None and v["memory_ratio"] == 3.3 and v["pass"] is True,
          f"xlarge_rnn's memory is reported, not held to the floors' fifth: {v}")
    v = cp.floor_verdict("simple_rnn", 1.0, 1.0, 100.0, default_sizes=False)
    check(v["floor"] is None and v["pass"] is True, f"no speed floor at other sizes: {v}")
    # Scaling: 1 thread 2 s, 2 threads 1.25 s (1.6x); two 1-thread processes at once 2.1 s each (ceiling 1.905x).
    s = cp.scaling_summary("large_rnn", [2.0, 2.0, 2.0], [1.25, 1.3, 1.2], [[2.1, 2.1]] * 3)
    check(s["tapegrad_scaling"] == 1.6 and s["ceiling"] == 1.905 and s["of_ceiling"] == 0.84
          and s["scaling_pass"] is False, f"scaling 1.6 of ceiling 1.905 is 84 %, under 85 %: {s}")
    check(s["machine_busy"] is False, f"a ceiling of 1.905 at 2 processes is not a busy machine: {s}")
    s = cp.scaling_summary("xlarge_rnn", [2.0], [1.0], [[2.0, 2.0]])
    check(s["of_ceiling"] == 1.0 and s["scaling_pass"] is None, f"no scaling floor for xlarge_rnn: {s}")
    s = cp.scaling_summary("large_rnn", [2.0], [2.4], [[4.4, 4.4]])  # ceiling 0.909: no idle core
    check(s["machine_busy"] is True, f"a ceiling under 1.5 at 2 processes is a busy machine: {s}")
    table = cp.markdown([dict(kind="scaling", workload="large_rnn", threads=2, tapegrad_s=2.4, pytorch_s=4.0,
                              speedup=1.67, floor=1.5, speed_pass=True, **s)])
    check("Busy machine at large_rnn@2" in table, f"the busy machine is said under the table:\n{table}")
    # The tables: one line a row, a verdict in each.
    rows = [dict(kind="training", workload="gru", threads=1, tapegrad_s=0.2, pytorch_s=2.0, speedup=10.0,
                 tapegrad_rss_mb=12.0, pytorch_rss_mb=250.0, **cp.floor_verdict("gru", 10.0, 12.0, 250.0)),
            dict(kind="latency", threads=1, calls=1000, repeats=3, steps=50, tapegrad_p50_us=10.0, tapegrad_p99_us=20.0,
                 pytorch_p50_us=400.0, pytorch_p99_us=500.0, pytorch_over_tapegrad_p50=40.0,
                 pytorch_over_tapegrad_p99=25.0)]
    table = cp.markdown(rows)
    check("| gru | 1 | 200 ms | 2 s | 10x | 15x | FAIL | 12.0 / 250 MB | pass |" in table, f"training table:\n{table}")
    check("| PyTorch (Python) | 400.0 us | 500.0 us | 40x | 25x |" in table, f"latency table:\n{table}")
    check(cp.failed(rows) == rows[:1], "the gru row is the failed one")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    test_train_bench(sys.argv[1])
    if len(sys.argv) > 2:
        test_libtorch(sys.argv[2])
    test_compare_arguments(sys.argv[1])
    test_compare_logic()
    print(f"smoke_test: {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
