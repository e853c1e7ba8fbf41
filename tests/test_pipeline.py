"""read_ahead: items in order, the producer's error where its item would be, no thread left
behind when the consumer stops early."""

from __future__ import annotations

import threading

import pytest

from app.pipeline import read_ahead


def test_items_arrive_in_order_from_another_thread():
    where = []

    def items():
        for n in range(100):
            where.append(threading.current_thread() is threading.main_thread())
            yield n

    with read_ahead(items()) as each:
        assert list(each) == list(range(100))
    assert not any(where)


def test_an_error_of_the_producer_is_raised_where_its_item_would_be():
    def items():
        yield 1
        yield 2
        raise OSError("the disk went away")

    got = []
    with pytest.raises(OSError, match="the disk went away"), read_ahead(items()) as each:
        for item in each:
            got.append(item)
    assert got == [1, 2]


def test_leaving_early_stops_the_producer_and_closes_it():
    closed = threading.Event()
    made = []

    def items():
        try:
            for n in range(1_000_000):
                made.append(n)
                yield n
        finally:
            closed.set()

    with pytest.raises(RuntimeError), read_ahead(items()) as each:
        for item in each:
            if item == 3:
                raise RuntimeError("the consumer failed")
    assert closed.is_set()
    assert len(made) < 10  # one item ahead, not the whole producer
    # The producer's own thread is gone (other tests' threads may come and go meanwhile).
    assert not [t for t in threading.enumerate() if t.name == "read-ahead"]
