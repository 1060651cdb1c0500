"""A hand-over box between two threads that wakes the taker once per batch, not per item."""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Mailbox(Generic[T]):
    """Items posted by one thread and taken in bulk by another.

    The taker is woken only when the box goes from empty to non-empty, never per item:
    waking a thread per message makes threads trade the GIL on every reading.
    """

    def __init__(self) -> None:
        self._items: deque[T] = deque()
        self._mail = threading.Event()

    def put(self, item: T) -> None:
        self._items.append(item)
        if not self._mail.is_set():
            self._mail.set()

    def put_back(self, items: list[T]) -> None:
        """Return items taken but not handled to the front of the box, in their order."""
        self._items.extendleft(reversed(items))
        self._mail.set()

    def wait(self, timeout: float) -> bool:
        """True once there is something to take (False after ``timeout``)."""
        if self._items:
            return True
        self._mail.clear()
        if self._items:  # posted between the check and the clear
            return True
        return self._mail.wait(timeout) and bool(self._items)

    def take(self, limit: int) -> list[T]:
        items = self._items
        return [items.popleft() for _ in range(min(len(items), limit))]

    def __len__(self) -> int:
        return len(self._items)
