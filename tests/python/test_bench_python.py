"""bench/python/bench_python.py (the rows `mproc bench` runs as bench_python)
runs, prints the benchmarks' CSV with mproc and multiprocessing on every row
whose names mproc has, and scripts/bench_report.py states the issue's
targets from those rows. A tiny scale: this checks that the benchmark works,
never how fast anything is."""
import importlib.util
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(ROOT, "bench", "python", "bench_python.py")
CASES = ["queue_1to1_int", "queue_1to1_tuple", "queue_1to1_1MiB", "pipe_roundtrip_small",
         "lock_contended_2proc", "pool_map_chunksize1", "pool_map_default",
         "process_start_join_fork"]


def test_every_row_runs_with_both_or_says_why_not():
    env = dict(os.environ, MPROC_BENCH_SCALE="0.002", MPROC_BENCH_REPS="1",
               PYTHONDONTWRITEBYTECODE="1")
    p = subprocess.run([sys.executable, BENCH], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=240)
    assert p.returncode == 0, p.stdout + p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "area,case,impl,median,min,max,unit"
    rows = [l.split(",") for l in lines[1:] if not l.startswith("#")]
    notes = [l for l in lines if l.startswith("#")]
    assert not [n for n in notes if n.startswith("# ERROR")], notes
    for r in rows:
        assert len(r) == 7 and r[0] == "python", r
        assert float(r[3]) > 0 and float(r[4]) <= float(r[3]) <= float(r[5]), r
    for case in CASES:
        impls = {r[2] for r in rows if r[1] == case}
        assert "multiprocessing" in impls, case
        # the module is built and importable here: every row has mproc
        assert "mproc" in impls, f"{case}: no mproc row; notes: {notes}"


def test_the_report_states_the_python_targets():
    spec = importlib.util.spec_from_file_location("bench_report",
                                                  os.path.join(ROOT, "scripts", "bench_report.py"))
    br = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(br)
    csv = "\n".join([
        "python,queue_1to1_int,mproc,2.0,1.9,2.1,Mmsg/s",
        "python,queue_1to1_int,multiprocessing,0.16,0.15,0.17,Mmsg/s",
        "python,pipe_roundtrip_small,mproc,12,11,13,us/op",
        "python,pipe_roundtrip_small,multiprocessing,20,19,21,us/op",
    ])
    rows, _ = br.parse_csv(csv)
    t = {what: (target, measured, met) for what, target, measured, met in br.targets(rows)}
    assert t["Python Queue 1->1, an int"][2] is True  # 12.5x >= 10x
    assert t["Python Pipe round trip, a small object"][2] is False  # 1.67x < 2x
    assert t["Python Lock acquire+release, 2 processes contending"][2] is None
