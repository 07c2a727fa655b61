"""Running trials on a Dask cluster: `--dask tcp://host:8786` for an existing one, `--dask local` for a
LocalCluster of worker processes on this machine (127.0.0.1 only).

Dask is an optional extra (`pip install 'nnrun[dask]'`). Each worker runs one trial at a time (one Dask
thread), and the trial sets numba's and BLAS's thread counts from its config. Results stream back as trials
finish; the trials write their run folders themselves, so the sweep folder must be on a file system every
worker reaches. A worker that dies has its trial started again by the scheduler, up to
`distributed.scheduler.allowed-failures` times (the sweep's retries for a LocalCluster), then it fails.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator

from nnrun import THREAD_DEFAULTS
from nnrun.errors import RunError
from nnrun.sweeps.worker import Job, Outcome, run_trial

CONNECT_SECONDS = 10


class DaskPool:
    def __init__(
        self,
        address: str,
        workers: int | None = None,
        retries: int = 2,
        target: Callable[..., Outcome] = run_trial,
        memory_limit: str | int = "auto",
    ):
        try:
            import dask
            from distributed import Client, LocalCluster
        except ImportError:
            raise RunError(
                "--dask needs Dask, which is an optional extra and is not installed",
                hint="pip install 'nnrun[dask]'",
            ) from None
        self.target = target
        self.cluster = None
        if address == "local":
            self.workers = workers or os.cpu_count() or 1
            with dask.config.set({"distributed.scheduler.allowed-failures": retries}):
                self.cluster = LocalCluster(
                    n_workers=self.workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    env=dict(THREAD_DEFAULTS),  # in place before the workers load numpy
                    memory_limit=memory_limit,  # per worker; "auto" shares the machine's memory among them
                )
            self.client = Client(self.cluster)
        else:
            try:
                self.client = Client(address, timeout=CONNECT_SECONDS)
            except (OSError, TimeoutError, ValueError) as error:
                raise RunError(
                    f"cannot reach the Dask scheduler at {address}: {error}",
                    hint="check the address (tcp://host:8786) and that `dask scheduler` runs there; "
                    "or use --dask local",
                ) from None
            self.workers = sum(w["nthreads"] for w in self.client.scheduler_info()["workers"].values()) or 1

    def run(self, jobs: deque[Job], events: Callable[[tuple], None]) -> Iterator[Outcome]:
        """Outcomes as trials end; the caller may append to `jobs` while it reads them, as for LocalPool."""
        from distributed import as_completed

        futures = {}
        pending = as_completed()

        def submit() -> None:
            while jobs:
                job = jobs.popleft()
                # a trial runs once a rung: each job of it is a task of its own
                key = f"nnrun-trial-{job.trial}-{job.until if job.until is not None else 'end'}"
                future = self.client.submit(self.target, job, key=key, pure=False)
                futures[future] = job
                pending.add(future)
                events(("submitted", job.trial, 1))

        submit()
        try:
            for future in pending:
                job = futures[future]
                try:
                    outcome = future.result()
                except Exception as error:  # KilledWorker after the allowed failures, or a lost connection
                    outcome = Outcome(job.trial, "failed", self.failure(error))
                yield outcome
                submit()
        finally:
            for future in futures:
                future.cancel()

    def failure(self, error: Exception) -> str:
        """The trial's error: for a worker its nanny restarted for memory, that, with the memory it had used."""
        worker = getattr(getattr(error, "last_worker", None), "address", None)
        try:
            # nannies report each memory restart to the scheduler, so this holds for remote clusters too
            restarts = [event for _, event in self.client.get_events("worker-restart-memory")]
        except Exception:  # the scheduler is gone: say what is known
            restarts = []
        mine = [event for event in restarts if event.get("worker") == worker]
        if worker is not None and mine:
            gib = mine[-1].get("rss", 0) / 2**30
            return (f"killed for memory: its Dask worker {worker} went past its memory limit ({gib:.2f} GiB in "
                    f"use) and was restarted by its nanny, on every attempt (KilledWorker)")  # fmt: skip
        return f"on the Dask cluster: {type(error).__name__}: {error}"

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()
