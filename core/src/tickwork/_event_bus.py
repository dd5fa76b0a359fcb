"""Handing events to subscribers without ever making a run wait for one.

The run path only appends an event to each interested subscriber's bounded queue
(:meth:`EventBus.emit`: a few microseconds, nothing awaited). A pump per subscriber
delivers its queue in order: coroutine callbacks are awaited on the loop, plain ones
are called in a worker thread, a whole batch per thread hand-off (one hand-off per
event would cost more than the run it reports). So a subscriber that sleeps, raises or
falls behind only hurts itself:

- a full queue drops the newest events and counts them (:attr:`Subscription.dropped`),
  logged once per overflow at WARNING on ``tickwork.events``;
- an exception is logged with the subscriber's name, and delivery goes on.

With no subscriber at all, :attr:`EventBus.active` is false and the scheduler does not
even build its events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from types import TracebackType
from typing import Any, Self

from ._events import Event
from ._invoke import is_async_callable
from ._timeutil import utcnow

__all__ = ["DEFAULT_QUEUE_SIZE", "BlockingEventStream", "EventBus", "EventStream", "Subscription"]

logger = logging.getLogger("tickwork.events")

#: Events a subscriber may have waiting before newer ones are dropped.
DEFAULT_QUEUE_SIZE = 10_000

#: How long a plain subscriber's pump lets events gather before it hands them to the
#: subscriber's thread: runs end a few at a time, and one thread hand-off per event
#: would cost more than the runs (at a thousand runs a second, about a core).
BATCH_WAIT = 0.02


class _Worker:
    """The thread of one plain subscriber: it takes batches of events and calls the
    subscriber with each. One thread per subscriber, fed through a C queue, costs one
    wake-up per batch and keeps the subscriber's events in order."""

    def __init__(self, subscriber: _Subscriber) -> None:
        self._subscriber = subscriber
        self._batches: queue.SimpleQueue[list[Event] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        #: Events handed over and not delivered yet (part of the subscriber's backlog).
        self.in_flight = 0
        #: Set while nothing is handed over and undelivered.
        self.idle = threading.Event()
        self.idle.set()
        threading.Thread(
            target=self._run, name=f"tickwork-events-{subscriber.name}", daemon=True
        ).start()

    def hand_over(self, batch: list[Event]) -> None:
        with self._lock:
            self.in_flight += len(batch)
            self.idle.clear()
        self._batches.put(batch)

    def end(self) -> None:
        self._batches.put(None)

    def _run(self) -> None:
        while (batch := self._batches.get()) is not None:
            _call_each(self._subscriber, batch)
            with self._lock:
                self.in_flight -= len(batch)
                if not self.in_flight:
                    self.idle.set()


EventTypes = tuple[type[Event], ...]


class _Subscriber:
    """One subscription's filter, queue and pump."""

    def __init__(
        self,
        deliver: Callable[[Any], Any],
        types: EventTypes,
        job_id: str | None,
        queue_size: int,
        name: str,
    ) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, got {queue_size!r}")
        for kind in types:
            if not (isinstance(kind, type) and issubclass(kind, Event)):
                raise TypeError(f"event types must be Event classes, got {kind!r}")
        self.deliver = deliver
        self.is_async = is_async_callable(deliver)
        self.types = types or (Event,)
        self.job_id = job_id
        self.size = queue_size
        self.name = name
        self.waiting: deque[Event] = deque()
        self.dropped = 0
        self.overflowing = False
        self.pump: asyncio.Task[None] | None = None
        self.worker: _Worker | None = None  # a plain subscriber's thread, once needed

    def wants(self, event: Event) -> bool:
        if not isinstance(event, self.types):
            return False
        return self.job_id is None or getattr(event, "job_id", None) == self.job_id

    def offer(self, event: Event) -> bool:
        """Queue ``event``; False when the queue is full (the event is dropped)."""
        backlog = len(self.waiting) + (self.worker.in_flight if self.worker else 0)
        if backlog >= self.size:
            self.dropped += 1
            if not self.overflowing:
                self.overflowing = True
                logger.warning(
                    "event subscriber %s is %d events behind: newer events are dropped "
                    "until it catches up (%d dropped so far)",
                    self.name,
                    self.size,
                    self.dropped,
                )
            return False
        self.overflowing = False
        self.waiting.append(event)
        return True


class Subscription:
    """What :meth:`EventBus.subscribe` returns: ``unsubscribe()`` (or leaving a
    ``with`` block) ends the subscription; events already queued are still delivered."""

    def __init__(self, bus: EventBus, subscriber: _Subscriber) -> None:
        self._bus = bus
        self._subscriber = subscriber

    @property
    def dropped(self) -> int:
        """Events this subscriber lost because its queue was full."""
        return self._subscriber.dropped

    def unsubscribe(self) -> None:
        self._bus._remove(self._subscriber)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.unsubscribe()

    def __repr__(self) -> str:
        return f"Subscription({self._subscriber.name})"


class EventBus:
    """Subscribers and the events for them (see the module docs)."""

    def __init__(self, worker_id: str) -> None:
        self.worker_id = worker_id
        self._lock = threading.Lock()
        self._subscribers: tuple[_Subscriber, ...] = ()
        #: Whether anyone listens: the scheduler builds events only then.
        self.active = False

    def subscribe(
        self,
        callback: Callable[[Any], Any],
        *types: type[Event],
        job_id: str | None = None,
        queue_size: int = DEFAULT_QUEUE_SIZE,
    ) -> Subscription:
        """Call ``callback(event)`` for each event of ``types`` (all events when none
        are given; a base class stands for its subclasses), only those of ``job_id``
        when given. Safe to call from any thread."""
        if not callable(callback):
            raise TypeError(f"an event subscriber must be callable, got {callback!r}")
        name = getattr(callback, "__qualname__", None) or repr(callback)
        subscriber = _Subscriber(callback, types, job_id, queue_size, name)
        with self._lock:
            self._subscribers = (*self._subscribers, subscriber)
            self.active = True
        return Subscription(self, subscriber)

    def events(
        self, *types: type[Event], job_id: str | None = None, queue_size: int = DEFAULT_QUEUE_SIZE
    ) -> EventStream:
        """An async iterator over the events to come (see :class:`EventStream`)."""
        return EventStream(self, types, job_id, queue_size)

    def blocking_events(
        self, *types: type[Event], job_id: str | None = None, queue_size: int = DEFAULT_QUEUE_SIZE
    ) -> BlockingEventStream:
        """An iterator for another thread (the blocking ``Scheduler``)."""
        return BlockingEventStream(self, types, job_id, queue_size)

    def _remove(self, subscriber: _Subscriber) -> None:
        with self._lock:
            self._subscribers = tuple(s for s in self._subscribers if s is not subscriber)
            self.active = bool(self._subscribers)
        if subscriber.worker is not None:
            subscriber.worker.end()  # after the batches already handed over

    def publish(self, kind: type[Event], /, **fields: Any) -> None:
        """Build a ``kind`` event (now, this worker) and :meth:`emit` it, when anyone
        listens; nothing is built otherwise."""
        if self.active:
            self.emit(kind(at=utcnow(), worker_id=self.worker_id, **fields))

    def emit(self, event: Event) -> None:
        """Queue ``event`` for every subscriber that wants it (on the loop; returns at
        once)."""
        for subscriber in self._subscribers:
            if subscriber.wants(event) and subscriber.offer(event) and subscriber.pump is None:
                subscriber.pump = asyncio.get_running_loop().create_task(
                    self._pump(subscriber), name=f"tickwork-events-{subscriber.name}"
                )

    async def _pump(self, subscriber: _Subscriber) -> None:
        try:
            if not subscriber.is_async:
                await asyncio.sleep(BATCH_WAIT)
                if subscriber.worker is None:
                    subscriber.worker = _Worker(subscriber)
                batch = list(subscriber.waiting)
                subscriber.waiting.clear()
                subscriber.worker.hand_over(batch)
                return
            while subscriber.waiting:
                batch = list(subscriber.waiting)
                subscriber.waiting.clear()
                for event in batch:
                    await _call_async(subscriber, event)
        finally:
            subscriber.pump = None

    async def drain(self, timeout: float) -> None:
        """Let the subscribers take what is queued (a stop), for at most ``timeout``
        seconds; what is left then is dropped with the pumps."""
        deadline = asyncio.get_running_loop().time() + timeout
        pumps = {s.pump for s in self._subscribers if s.pump is not None}
        pending: set[asyncio.Task[None]] = set()
        if pumps:
            _done, pending = await asyncio.wait(pumps, timeout=timeout)
            for pump in pending:
                pump.cancel()
        busy = len(pending)
        for subscriber in self._subscribers:
            worker = subscriber.worker
            if worker is not None and subscriber.pump is None:
                left = max(0.0, deadline - asyncio.get_running_loop().time())
                if not await asyncio.to_thread(worker.idle.wait, left):
                    busy += 1
        if busy:
            logger.warning(
                "%d event subscriber(s) still busy at stop; their queued events are dropped",
                busy,
            )


async def _call_async(subscriber: _Subscriber, event: Event) -> None:
    try:
        await subscriber.deliver(event)
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("event subscriber %s failed on %s", subscriber.name, type(event).__name__)


def _call_each(subscriber: _Subscriber, batch: list[Event]) -> None:
    for event in batch:
        try:
            subscriber.deliver(event)
        except Exception:
            logger.exception(
                "event subscriber %s failed on %s", subscriber.name, type(event).__name__
            )


class EventStream:
    """``async for event in scheduler.events(RunFailed): ...``: the events to come, in
    order. End it with :meth:`aclose` (or use it as an async context manager); a stream
    nobody reads fills up and then drops the newest events, as any subscriber."""

    def __init__(
        self, bus: EventBus, types: EventTypes, job_id: str | None, queue_size: int
    ) -> None:
        self._ready = asyncio.Event()
        self._items: deque[Event] = deque()
        self._closed = False
        self._subscription = bus.subscribe(
            self._arrived, *types, job_id=job_id, queue_size=queue_size
        )

    async def _arrived(self, event: Event) -> None:
        self._items.append(event)
        self._ready.set()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        while not self._items:
            if self._closed:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()

    async def aclose(self) -> None:
        self._closed = True
        self._subscription.unsubscribe()
        self._ready.set()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class BlockingEventStream:
    """The blocking :class:`EventStream`: ``for event in scheduler.events(): ...`` in
    another thread; :meth:`close` (or leaving a ``with`` block) ends it."""

    _END = object()

    def __init__(
        self, bus: EventBus, types: EventTypes, job_id: str | None, queue_size: int
    ) -> None:
        self._items: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._subscription = bus.subscribe(
            self._items.put, *types, job_id=job_id, queue_size=queue_size
        )

    def get(self, timeout: float | None = None) -> Event | None:
        """The next event, waiting up to ``timeout`` seconds; None when none came or the
        stream is closed."""
        with contextlib.suppress(queue.Empty):
            item = self._items.get(timeout=timeout)
            return item if isinstance(item, Event) else None
        return None

    def __iter__(self) -> Iterator[Event]:
        while True:
            item = self._items.get()
            if not isinstance(item, Event):
                return
            yield item

    def close(self) -> None:
        self._subscription.unsubscribe()
        self._items.put(self._END)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
