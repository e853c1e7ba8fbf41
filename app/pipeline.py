"""Two-stage pipelines: work that needs no database runs in a thread, a step ahead of the
thread that writes.

While the writer waits on the database (PostgreSQL works in its own process; SQLite and the
driver's socket waits run without Python's global lock), the thread checks the next piece.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
_END = object()


@contextmanager
def read_ahead(items: Iterator[T], depth: int = 1) -> Iterator[Iterator[T]]:
    """Run ``items`` in a thread, at most ``depth`` items ahead of the ``with`` body that
    iterates what this yields. An exception of ``items`` reaches the body where the item
    would have; leaving the body early stops the thread (and closes ``items``) before the
    ``with`` ends, so nothing runs on behind the caller's back."""
    handed: queue.Queue[tuple[object, BaseException | None]] = queue.Queue(maxsize=depth)
    stopped = threading.Event()

    def hand(item: object, error: BaseException | None = None) -> bool:
        while not stopped.is_set():
            try:
                handed.put((item, error), timeout=0.05)
            except queue.Full:
                continue
            return True
        return False

    def produce() -> None:
        try:
            for item in items:
                if not hand(item):
                    return
            hand(_END)
        except BaseException as exc:  # handed over to the consumer, raised there
            hand(_END, exc)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    def consume() -> Iterator[T]:
        while True:
            item, error = handed.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item  # type: ignore[misc]

    thread = threading.Thread(target=produce, name="read-ahead", daemon=True)
    thread.start()
    try:
        yield consume()
    finally:
        stopped.set()
        thread.join()
