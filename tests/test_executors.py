"""Where the prefill trains: a real Dask scheduler with two worker processes (no mocks), and no worker
outliving its driver. Needs the real data (Wikipedia) and ``distributed``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from xmr.orchestrate.prefill import train_missing  # noqa: E402
from xmr.paths import results_dir  # noqa: E402

BIN = Path(sys.executable).parent


def _plan(seeds, epochs=2):
    """A plan of DSCMR runs on Wikipedia, one row per seed, as xmr.orchestrate.plan makes them."""
    from xmr import experiments

    frame = experiments.planned_runs("dscmr", "wikipedia", protocol="dscmr", seeds=seeds, epochs=epochs)
    calls = [{"method": "dscmr", "dataset": "wikipedia",
              "kwargs": {"protocol": "dscmr", "epochs": epochs, "seeds": [int(s)], "batched": False}}
             for s in frame["seed"]]
    return frame.assign(chapter="t", group="g", label="l", call=calls, without="")


def _entries(root: Path) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted(root.glob("*/*.json"))}


def _numbers(entries):
    return {k: {f: v for f, v in e["run"].items() if f != "seconds"} for k, e in entries.items()}


@pytest.fixture
def cluster(tmp_path, real_data):
    """``dask scheduler`` and two ``dask worker`` processes on localhost, as a user starts them."""
    env = {**os.environ, "XMR_DATA_DIR": str(real_data), "OMP_NUM_THREADS": "1"}
    sched_file = tmp_path / "scheduler.json"
    procs = [subprocess.Popen([BIN / "dask", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(sched_file)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)]
    deadline = time.time() + 60
    while not sched_file.is_file() and time.time() < deadline:
        time.sleep(0.2)
    address = json.loads(sched_file.read_text())["address"]
    for _ in range(2):
        procs.append(subprocess.Popen([BIN / "dask", "worker", address, "--nthreads", "1", "--no-nanny",
                                       "--no-dashboard"], env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
    from distributed import Client

    with Client(address, timeout="60s") as client:
        client.wait_for_workers(2, timeout=60)
    yield address, procs[1:]
    for p in procs:
        p.kill()
        p.wait()


def test_a_real_cluster_gives_the_local_pools_numbers_and_survives_a_dead_worker(cluster, tmp_path, monkeypatch):
    address, workers = cluster
    monkeypatch.setenv("XMR_RESULTS_DIR", str(tmp_path / "local"))
    local = train_missing(_plan([0, 1]), jobs=2, device="cpu")
    assert list(local["status"]) == ["trained", "trained"]
    want = _numbers(_entries(results_dir()))

    monkeypatch.setenv("XMR_RESULTS_DIR", str(tmp_path / "dask"))
    out = train_missing(_plan([0, 1]), jobs=2, device="cpu", scheduler=address)
    assert list(out["status"]) == ["trained", "trained"]
    assert _numbers(_entries(results_dir())) == want  # the driver stored what the workers returned

    # Kill one worker while runs are training: the scheduler gives its run to the other one.
    monkeypatch.setenv("XMR_RESULTS_DIR", str(tmp_path / "killed"))
    import threading

    killer = threading.Timer(4.0, lambda: workers[0].send_signal(signal.SIGKILL))
    killer.start()
    try:
        out = train_missing(_plan([2, 3, 4, 5], epochs=4), jobs=2, device="cpu", scheduler=address)
    finally:
        killer.cancel()
    assert workers[0].poll() is not None, "the worker was to be killed mid-run"
    assert list(out["status"]) == ["trained"] * 4
    assert len(_entries(results_dir())) == 4
    assert not list(results_dir().rglob("*.tmp"))  # nothing half-written


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(x) for x in out.stdout.split()]


def _descendants(pid: int) -> list[int]:
    found, todo = [], _children(pid)
    while todo:
        found.append(todo.pop())
        todo += _children(found[-1])
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.is_file() and stat.read_text().split()[2] == "Z")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="worker clean-up is checked through /proc")
@pytest.mark.parametrize("executor, sig", [("local", signal.SIGINT), ("local", signal.SIGTERM), ("local", signal.SIGKILL),
                                           ("dask", signal.SIGKILL)])
def test_no_worker_outlives_its_driver(executor, sig, tmp_path, real_data):
    env = {**os.environ, "XMR_DATA_DIR": str(real_data), "XMR_RESULTS_DIR": str(tmp_path)}  # the features cache stays warm
    driver = subprocess.Popen([BIN / "xmr", "book", "--scale", "smoke", "--train-only", "--deep-only", "--jobs", "2",
                               "--only", "dacsl_table2_wikipedia", "--epochs", "200", "--executor", executor], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, workers = time.time() + 120, []
        while time.time() < deadline and len(workers) < 2:  # the pool's workers (and its resource tracker)
            workers = [c for c in _descendants(driver.pid) if b"spawn_main" in _cmdline(c)]
            time.sleep(0.3)
        assert len(workers) == 2, "the driver started no workers"
        time.sleep(2.0)  # training now
        driver.send_signal(sig)
        driver.wait(timeout=60)
        deadline = time.time() + 20
        while time.time() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.2)
        assert not any(_alive(w) for w in workers), f"worker(s) still running after {sig.name} of the driver"
    finally:
        for pid in [driver.pid, *_descendants(driver.pid)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_a_run_stored_under_another_key_than_planned_is_named(real_data, tmp_path, monkeypatch):
    """The code changed under a running prefill (its workers import the sources afresh): the run is stored under
    the key of the code that trained it, and its status says so, so ``xmr archive grow`` stops instead of training
    runs its plan will never find."""
    from xmr.orchestrate.prefill import SOURCES_CHANGED

    monkeypatch.setenv("XMR_RESULTS_DIR", str(tmp_path / "results"))
    plan = _plan([0], epochs=1)
    ok = train_missing(plan, jobs=1, device="cpu")
    assert list(ok["status"]) == ["trained"]
    moved = train_missing(plan.assign(key="0" * 16, cached=False), jobs=1, device="cpu")
    assert SOURCES_CHANGED in moved["status"].iloc[0] and "planned 0000000000000000" in moved["status"].iloc[0]
