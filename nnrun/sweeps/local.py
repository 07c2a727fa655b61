"""Running trials on this machine: each in a fresh worker process, at most `workers` at once.

A process per trial, started with spawn, rather than a pool of long-lived workers: a trial that kills its
process (a segfault, os._exit, the OOM killer) takes nothing else with it, and its death is known to be its
own, so it can be retried a bounded number of times. Starting a process costs about a second of imports
and of loading the cached kernels, small beside a trial's training.
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


class LocalPool:
    def __init__(self, workers: int, retries: int = 2, target: Callable[..., Outcome] = run_trial):
        self.workers = workers
        self.retries = retries
        self.target = target  # a module-level function(job, events): spawn imports it by name

    def run(self, jobs: list[Job], events: Callable[[tuple], None]) -> Iterator[Outcome]:
        """Outcomes as trials end; `events` hears ("started", trial) and the trials' own progress tuples."""
        context = multiprocessing.get_context("spawn")
        queue = deque(jobs)
        attempts: Counter[str] = Counter()
        running: dict[Connection, tuple[multiprocessing.Process, Job]] = {}
        try:
            while queue or running:
                while queue and len(running) < self.workers:
                    job = queue.popleft()
                    attempts[job.trial] += 1
                    receive, send = context.Pipe(duplex=False)
                    process = context.Process(target=_work, args=(self.target, job, send), name=f"trial-{job.trial}")
                    process.start()
                    send.close()  # the child holds the other end; EOF here means it is gone
                    running[receive] = (process, job)
                    events(("started", job.trial, attempts[job.trial]))
                for connection in wait(list(running)):
                    process, job = running[connection]
                    try:
                        message = connection.recv()
                    except (EOFError, OSError):
                        message = None
                    if message is not None and message[0] != "outcome":
                        events(message)
                        continue
                    del running[connection]
                    connection.close()
                    process.join()
                    if message is not None:
                        yield message[1]
                    elif attempts[job.trial] <= self.retries:
                        events(("died", job.trial, exit_text(process.exitcode)))
                        queue.appendleft(job)  # its folder decides: resume from a checkpoint, or start again
                    else:
                        died = (
                            f"its worker process died {attempts[job.trial]} times (last: {exit_text(process.exitcode)})"
                        )
                        yield Outcome(job.trial, "failed", died)
        finally:
            stop([process for process, _ in running.values()])


def _work(target: Callable[..., Outcome], job: Job, send: Connection) -> None:
    """The child process: run the trial, passing its events on, and send the outcome last."""
    signal.signal(signal.SIGINT, _interrupt_once)
    try:
        outcome = target(job, events=send.send)
        send.send(("outcome", outcome))
    except (KeyboardInterrupt, BrokenPipeError):
        return  # the sweep is stopping: the trainer has marked the run interrupted, resumable
    finally:
        send.close()


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
