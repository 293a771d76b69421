"""Where the prefill's runs train: a local process pool, or Dask distributed (embedded or a running cluster).

All three are :class:`concurrent.futures.Executor` s, so :func:`xmr.orchestrate.prefill.train_missing`
has one loop for them. A task trains one run (all its seeds) and *returns* its cache entries;
the driver writes them (:func:`xmr.results.write_entry`), so workers on other machines need
no shared filesystem, only the data (``XMR_DATA_DIR``, or a pack: ``xmr data pack`` and
``XMR_DATA_PACK``).

* ``local`` (default): ``jobs`` spawned processes. Each asks the kernel to kill it when its
  parent dies (Linux ``PR_SET_PDEATHSIG``), so a driver stopped by ``kill -9`` leaves no
  worker training on; Ctrl-C and SIGTERM kill them at once (:func:`open_executor` ends them).
* ``dask``: an embedded :class:`distributed.LocalCluster` of ``jobs`` single-threaded worker
  processes (the nannies restart a worker that dies, and its run goes to another worker).
* a scheduler address (``tcp://HOST:PORT``, or ``$XMR_SCHEDULER``): a cluster a user started
  with ``dask scheduler`` and ``dask worker ADDRESS`` on any machines.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import Any, Callable, Iterator

__all__ = ["open_executor", "worker_init", "running_labels", "SCHEDULER_ENV"]

SCHEDULER_ENV = "XMR_SCHEDULER"


def worker_init(threads: int) -> None:
    """In each worker: die with the parent (Linux), and use ``threads`` torch threads."""
    _die_with_parent()
    import torch

    torch.set_num_threads(threads)


def _die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except OSError:  # pragma: no cover - no glibc: the driver's own shutdown still ends the workers
        return
    if os.getppid() == 1:  # the parent died before the request took effect
        os._exit(1)


@contextlib.contextmanager
def _terminate_on_sigterm() -> Iterator[None]:
    """SIGTERM (and SIGHUP) raise KeyboardInterrupt in the driver, so it takes the same way out as Ctrl-C."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextlib.contextmanager
def open_executor(kind: str = "local", *, jobs: int = 2, threads: int = 1,
                  scheduler: str | None = None) -> Iterator[tuple[Any, Callable[[], dict[str, list[str]]] | None]]:
    """``(executor, processing)``: a :class:`concurrent.futures.Executor` of ``kind`` (``local`` or
    ``dask``; a ``scheduler`` address means an existing Dask cluster) and, for Dask, a function giving
    the keys each worker is processing now (else ``None``). Leaving the block (also by an exception,
    Ctrl-C or SIGTERM) ends every local worker this started; finished work is never lost, since the
    driver stores each result as it arrives."""
    scheduler = scheduler or (os.environ.get(SCHEDULER_ENV) if kind == "dask" else None)
    with _terminate_on_sigterm():
        if scheduler or kind == "dask":
            with _dask(jobs, threads, scheduler) as out:
                yield out
        elif kind == "local":
            with _local(jobs, threads) as out:
                yield out
        else:
            raise ValueError(f"executor must be 'local' or 'dask', got {kind!r}")


@contextlib.contextmanager
def _local(jobs: int, threads: int):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("spawn")  # fork after torch has started threads can deadlock
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=worker_init, initargs=(threads,))
    try:
        yield pool, None
    except BaseException:
        for proc in list(getattr(pool, "_processes", {}).values()):  # a stopped build stops training now
            proc.kill()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


@contextlib.contextmanager
def _dask(jobs: int, threads: int, scheduler: str | None):
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - the extra is part of the test install
        raise RuntimeError("the Dask executor needs distributed: pip install 'xmr[dask]' (or distributed)") from exc
    cluster = None
    if scheduler:
        client = Client(scheduler, timeout="30s")
    else:
        cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=40)
        client = Client(cluster)
    watchdog = None
    try:
        try:
            client.wait_for_workers(1, timeout=NO_WORKERS_TIMEOUT)
        except TimeoutError:
            raise ValueError(f"the Dask cluster at {scheduler or 'this machine'} has no worker after "
                             f"{NO_WORKERS_TIMEOUT:g} s: start one (`dask worker ADDRESS --nthreads 1`) and run again"
                             ) from None
        client.run(_set_threads, threads if cluster is not None else None)

        def processing() -> dict[str, list[str]]:
            return {addr: [str(k) for k in keys] for addr, keys in client.processing().items()}

        executor = _DaskExecutor(client)
        watchdog = _Watchdog(client, executor, scheduler or "this machine")
        yield executor, processing
    finally:
        if watchdog is not None:
            watchdog.stop()
        client.close()
        if cluster is not None:
            cluster.close()


#: How long a build waits for a Dask cluster that has no worker (at the start, or after its last one died)
#: before it fails with a message, instead of waiting forever.
NO_WORKERS_TIMEOUT = 120.0


class _Watchdog:
    """Fails every unfinished run, with a message, once the cluster has had no worker for :data:`NO_WORKERS_TIMEOUT`
    seconds (a task queued on a cluster without workers waits forever)."""

    def __init__(self, client: Any, executor: "_DaskExecutor", where: str, every: float = 5.0) -> None:
        import threading

        self._client, self._executor, self._where, self._every = client, executor, where, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        import time

        alone_since = None
        while not self._stop.wait(self._every):
            try:
                workers = self._client.scheduler_info().get("workers", {})
            except Exception:  # noqa: BLE001 - a scheduler that went away: the client's own errors say so
                return
            if workers:
                alone_since = None
                continue
            alone_since = alone_since or time.monotonic()
            if time.monotonic() - alone_since >= NO_WORKERS_TIMEOUT:
                self._executor.fail_unfinished(RuntimeError(
                    f"the Dask cluster at {self._where} has had no worker for {NO_WORKERS_TIMEOUT:g} s; its runs "
                    "were not trained (start a worker and run again: finished runs are kept)"))
                return

    def stop(self) -> None:
        self._stop.set()


class _DaskExecutor:
    """The :class:`concurrent.futures.Executor` interface over a Dask client (public API only): each
    task is a Dask task with a fresh key (``pure=False``), its :class:`concurrent.futures.Future`
    carries that ``key``, and the scheduler reruns a task whose worker died."""

    def __init__(self, client: Any) -> None:
        import concurrent.futures

        self._client, self._cf = client, concurrent.futures
        self._tasks: dict[Any, Any] = {}  # cf future -> dask future (held, or Dask forgets the task)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any):
        task = self._client.submit(fn, *args, pure=False, **kwargs)
        out = self._cf.Future()
        out.key = task.key
        out.set_running_or_notify_cancel()

        def settle(done: Any) -> None:
            try:
                out.set_result(done.result())
            except BaseException as exc:  # noqa: BLE001 - handed to the driver as the run's failure
                if not out.done():
                    out.set_exception(exc)

        task.add_done_callback(settle)
        self._tasks[out] = task
        return out

    def fail_unfinished(self, exc: BaseException) -> None:
        """Every run not finished yet fails with ``exc`` (its Dask task is cancelled)."""
        for out, task in list(self._tasks.items()):
            if not out.done():
                out.set_exception(exc)
                self._client.cancel([task])

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures:
            self._client.cancel([t for f, t in self._tasks.items() if not f.done()])

    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown(cancel_futures=True)


def _set_threads(threads: int | None) -> None:
    """On a Dask worker: torch threads (an embedded cluster's share of the cores; a user's cluster keeps its own)."""
    import torch

    if threads:
        torch.set_num_threads(threads)


def running_labels(futures: dict[Any, str], processing: Callable[[], dict[str, list[str]]] | None) -> list[str]:
    """What each worker is training now, as short labels (``worker: label``) for the progress bar."""
    if processing is not None:
        by_key = {str(getattr(f, "key", "")): label for f, label in futures.items()}
        try:
            now = processing()
        except Exception:  # noqa: BLE001 - a progress display must not stop the build
            return []
        return [f"{addr.rsplit(':', 1)[-1]}: {by_key[k]}" for addr, keys in sorted(now.items()) for k in keys if k in by_key]
    return [label for f, label in futures.items() if f.running()]  # a process pool: the queued-to-run ones
