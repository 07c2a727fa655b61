"""Running trials locally: at most `workers` at once, each worker a spawned process of its own.

A worker runs one trial at a time and then the next, so the imports and the loading of the cached kernels
(about a second) are paid once per worker, not per trial. A trial that kills its worker (a segfault,
os._exit, the OOM killer) takes nothing else with it, and its death is known to be its own: the worker
held that trial alone. The trial is started again, in a new worker, a bounded number of times.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections import Counter, deque
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection, wait

from nnrun.sweeps.worker import Job, Outcome, run_trial

STOP_SECONDS = 20  # after Ctrl-C, how long a trial may take to write its summary before it is killed


class Worker:
    """A spawned process serving trials over a pipe: a Job in, progress tuples and ("outcome", ...) out."""

    def __init__(self, context, target: Callable[..., Outcome]):
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(target, child), name="nnrun-sweep-worker")
        self.process.start()
        child.close()  # the process holds the other end; EOF here means it is gone

    def retire(self) -> None:
        try:
            self.connection.send(None)
        except OSError:
            pass


class LocalPool:
    def __init__(self, workers: int, retries: int = 2, target: Callable[..., Outcome] = run_trial):
        self.workers = workers
        self.retries = retries
        self.target = target  # a module-level function(job, events): spawn imports it by name

    def run(self, jobs: deque[Job], events: Callable[[tuple], None]) -> Iterator[Outcome]:
        """Outcomes as trials end; `events` hears ("started", trial, attempt), ("died", trial, how) and the
        trials' own progress tuples. The caller may append to `jobs` while it reads the outcomes (a halving
        schedule promotes trials as rungs complete): they run too."""
        context = multiprocessing.get_context("spawn")
        queue = jobs
        attempts: Counter[str] = Counter()
        idle: list[Worker] = []
        busy: dict[Connection, tuple[Worker, Job]] = {}
        try:
            while queue or busy:
                while queue and len(busy) < self.workers:
                    worker = idle.pop() if idle else Worker(context, self.target)
                    job = queue.popleft()
                    attempts[job.trial] += 1
                    worker.connection.send(job)
                    busy[worker.connection] = (worker, job)
                    events(("started", job.trial, attempts[job.trial]))
                for connection in wait(list(busy)):
                    worker, job = busy[connection]
                    try:
                        message = connection.recv()
                    except (EOFError, OSError):
                        message = None
                    if message is not None and message[0] != "outcome":
                        events(message)
                        continue
                    del busy[connection]
                    if message is not None:
                        idle.append(worker)
                        yield message[1]
                        continue
                    connection.close()
                    worker.process.join()
                    how = exit_text(worker.process.exitcode)
                    if attempts[job.trial] <= self.retries:
                        events(("died", job.trial, how))
                        queue.appendleft(job)  # its folder decides: resume from a checkpoint, or start again
                    else:
                        yield Outcome(
                            job.trial, "failed", f"its worker process died {attempts[job.trial]} times (last: {how})"
                        )
        finally:
            for worker in idle:
                worker.retire()
            stop([worker.process for worker, _ in busy.values()])
            for worker in idle:
                worker.process.join(STOP_SECONDS)


def _serve(target: Callable[..., Outcome], connection: Connection) -> None:
    """The worker process: run each trial it is sent, passing its events on and sending its outcome last."""
    signal.signal(signal.SIGINT, _interrupt_once)
    try:
        while (job := connection.recv()) is not None:
            outcome = target(job, events=connection.send)
            connection.send(("outcome", outcome))
    except (KeyboardInterrupt, BrokenPipeError, EOFError):
        return  # the sweep is stopping: a running trial has marked its run interrupted, resumable
    finally:
        connection.close()


def _interrupt_once(signum: int, frame: object) -> None:
    """Ctrl-C in a terminal reaches a trial twice, from the terminal and from the driver's stop(): the first
    has the trainer write its interrupted summary, and the second, ignored, must not cut that write short."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def stop(processes: list[multiprocessing.Process]) -> None:
    """Interrupt running trials so they write an honest summary (resumable), then kill what lingers."""
    for process in processes:
        if process.is_alive():
            try:
                os.kill(process.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
    for process in processes:
        process.join(STOP_SECONDS)
        if process.is_alive():
            process.kill()
            process.join()


def exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
