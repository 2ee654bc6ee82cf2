"""Loading batches: in the calling process, or in background worker processes.

A batch is loaded by :func:`fetch` wherever it runs. Workers are forked
processes (``multiprocessing``; "spawn" where fork does not exist), one task pipe
each and one shared result queue; see ``DataLoader`` for why processes.
"""
import multiprocessing
import os
import pickle
import queue
import signal
import traceback

from nyang.data.collate import default_collate, to_host
from nyang.data.seeding import derive_seed, sample_seed

_POLL_S = 1.0  # how often a waiting side checks that the other is still alive
_JOIN_S = 5.0


def fetch(dataset, collate_fn, indices, base_seed, position):
    """The host batch of ``dataset`` at ``indices``, the first being sample ``position``
    of the epoch; each sample is loaded under its own seed (``nyang.data.seeding``)."""
    if collate_fn is default_collate and hasattr(dataset, "get_batch"):
        return dataset.get_batch(indices)
    samples = []
    for k, index in enumerate(indices):
        with sample_seed(derive_seed(base_seed, position + k)):
            samples.append(dataset[index])
    return to_host(collate_fn(samples))


class WorkerError:
    """An exception raised in a worker, carried to the main process with its traceback."""

    def __init__(self, exc, worker_id):
        self.exc_type = type(exc)
        try:
            pickle.dumps(self.exc_type)
        except Exception:
            self.exc_type = RuntimeError
        self.message = (f"Caught {type(exc).__name__} in DataLoader worker {worker_id}.\n"
                        f"Original traceback (most recent call last) in the worker:\n{traceback.format_exc()}")

    def reraise(self):
        """Raise the worker's exception type in this process, its message holding the
        worker's traceback (RuntimeError when that type cannot be rebuilt)."""
        try:
            error = self.exc_type(self.message)
        except Exception:
            error = RuntimeError(self.message)
        raise error


def _worker_loop(dataset, collate_fn, tasks, results, worker_id, parent_pid):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    results.cancel_join_thread()  # exiting never waits on results nobody will read
    while True:
        try:
            if not tasks.poll(_POLL_S):
                if os.getppid() != parent_pid:
                    return
                continue
            task = tasks.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        tag, number, indices, base_seed, position = task
        try:
            payload = pickle.dumps(fetch(dataset, collate_fn, indices, base_seed, position), pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            payload = WorkerError(exc, worker_id)
        results.put((tag, number, payload))


class ProcessWorkers:
    """``num_workers`` processes loading batches of ``dataset``.

    ``submit(worker, task)`` sends ``(tag, number, indices, base_seed, position)``;
    ``get()`` returns ``(tag, number, batch or WorkerError)`` as they finish."""

    def __init__(self, dataset, collate_fn, num_workers):
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        self.results = context.Queue()
        self.pipes, self.processes = [], []
        for worker_id in range(num_workers):
            receive, send = context.Pipe(duplex=False)
            process = context.Process(target=_worker_loop, daemon=True, name=f"nyang-data-worker-{worker_id}",
                                      args=(dataset, collate_fn, receive, self.results, worker_id, os.getpid()))
            process.start()
            receive.close()
            self.pipes.append(send)
            self.processes.append(process)

    def submit(self, worker, task):
        """Queue ``task`` on worker number ``worker``."""
        self.pipes[worker].send(task)

    def get(self):
        """The next finished task, whichever worker ran it; raises RuntimeError if a
        worker died."""
        while True:
            try:
                tag, number, payload = self.results.get(timeout=_POLL_S)
            except queue.Empty:
                for p in self.processes:
                    if not p.is_alive():
                        raise RuntimeError(f"DataLoader worker (pid {p.pid}) exited unexpectedly "
                                           f"with exit code {p.exitcode}") from None
                continue
            return tag, number, payload if isinstance(payload, WorkerError) else pickle.loads(payload)

    def shutdown(self):
        """Stop every worker and wait for it (terminating one that does not stop)."""
        for pipe in self.pipes:
            try:
                pipe.send(None)
                pipe.close()
            except OSError:
                pass
        for p in self.processes:
            p.join(_JOIN_S)
            if p.is_alive():
                p.terminate()
                p.join()
        self.results.close()
        self.results.join_thread()
        self.pipes, self.processes = [], []

