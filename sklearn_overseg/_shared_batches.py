"""Batches shared between this process and a pool of worker processes.

:class:`SharedBatches` runs one function over a list of batches: the workers
take batches from the start, this process from the end, until they meet.
This process never waits for a worker that is still starting: a batch a
worker has not returned by the time this process is done is computed here
too (both give the same result), after waiting for the oldest one about as
long as a batch takes here. The runner of :mod:`sklearn_overseg._parallel`
decides when the work pays for workers; this module only schedules.
"""

from __future__ import annotations

import threading
from concurrent.futures import FIRST_COMPLETED, wait
from time import perf_counter

__all__ = ["IN_FLIGHT", "SharedBatches"]

#: Batches sent ahead to each worker, so it does not wait for the next one.
IN_FLIGHT = 2


class SharedBatches:
    """Batches taken from the start by workers and from the end by this process.

    Only this thread submits batches (topping up what the workers hold
    between two of its own batches): a worker's results are stored by a
    callback in the executor's own thread, which never submits, so that
    thread never blocks on the executor it serves.
    """

    def __init__(self, func, items, batches, executor, workers, *,
                 main_shares: bool = True):
        self.func, self.items, self.batches = func, items, batches
        self.main_shares = main_shares
        self.executor, self.workers = executor, workers
        self.results: list = [None] * len(batches)
        self.done = [False] * len(batches)
        self.sent: dict[int, object] = {}
        self.front, self.back = 0, len(batches)
        self.lock = threading.Lock()
        self.batch_seconds = 0.0
        self.broken = False  # the pool refused a batch

    def _store(self, i: int, result) -> None:
        with self.lock:
            if not self.done[i]:
                self.results[i], self.done[i] = result, True

    def _returned(self, i: int, future) -> None:
        if not future.cancelled() and future.exception() is None:
            self._store(i, future.result())
        # a failed batch is computed (and its error raised) in this process

    def _top_up(self) -> None:
        """Send batches from the start until each worker holds ``IN_FLIGHT``."""
        held = sum(not self.done[i] for i in self.sent)
        while held < IN_FLIGHT * self.workers and self.front < self.back:
            i, self.front = self.front, self.front + 1
            try:
                future = self.executor.submit(self.func, self.items[self.batches[i]])
            except Exception:  # a broken pool: this process computes the batch
                self.broken = True
                return
            self.sent[i] = future
            future.add_done_callback(lambda f, i=i: self._returned(i, f))
            held += 1

    def _compute(self, i: int) -> None:
        start = perf_counter()
        result = self.func(self.items[self.batches[i]])
        self.batch_seconds = max(self.batch_seconds, perf_counter() - start)
        self._store(i, result)

    def run(self) -> list:
        if not self.main_shares:
            return self._collect()
        self._top_up()
        while self.front < self.back:
            self.back -= 1
            self._compute(self.back)
            self._top_up()
        # what the workers still hold: wait for the oldest about as long as a
        # batch takes here (it is probably running), compute the others here
        waiting = [i for i in range(len(self.batches)) if not self.done[i]]
        for i in reversed(waiting):
            future = self.sent.get(i)
            if i == waiting[0] and future is not None and not self.done[i]:
                try:
                    self._store(i, future.result(timeout=1.5 * self.batch_seconds))
                except Exception:  # late or failed: computed here
                    pass
            if not self.done[i]:
                self._compute(i)
        return self.results

    def _collect(self) -> list:
        """Every batch from the workers (worker errors raised here)."""
        while not all(self.done):
            self._top_up()
            held = [(i, f) for i, f in self.sent.items() if not self.done[i]]
            if self.broken:  # the pool takes nothing more: the rest is here
                for i in range(len(self.batches)):
                    if not self.done[i]:
                        self._compute(i)
                break
            wait([f for _, f in held], return_when=FIRST_COMPLETED)
            for i, future in held:
                if future.done():
                    self._store(i, future.result())
        return self.results
