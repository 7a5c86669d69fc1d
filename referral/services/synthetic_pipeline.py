"""Drawing synthetic batches in a child process while this one writes the last one.

Drawing a case (pure Python) costs about as much as writing it, so with two cores or
more a run of several batches draws in a forked child: the database work and the drawing
overlap, and a long run takes little more than its drawing alone. The child inherits the
app context, the key ring and the directory by fork, never touches the database (nor
frees a connection it inherited: its collector is frozen), and sends each batch as plain
values prepared for the driver, then its counts. A run of one batch, or a system without
fork, draws here, in order; either way a seed gives the same batches.
"""

import gc
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import suppress

from referral.services.synthetic_writer import Prepared


class DrawingFailed(RuntimeError):
    """The child drawing the data stopped; the message names the error's type only."""


def can_fork() -> bool:
    """Whether a child can draw beside this process: two cores for us, and fork."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (cores or 1) > 1 and "fork" in multiprocessing.get_all_start_methods()


def prepared_batches(builder, prepare: Callable, count: int, size: int, *,
                     in_child: bool) -> Iterator[Prepared]:
    """The batches of `count` cases, `size` at a time, as `prepare` makes them of the rows
    the builder draws; `builder.summary` holds the counts of all of them at the end."""
    if not in_child or count <= size:
        for rows in builder.batches(count, size):
            yield prepare(rows)
        return
    yield from _from_child(builder, prepare, count, size)


def _from_child(builder, prepare, count: int, size: int) -> Iterator[Prepared]:
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # else the child would print again what waits in a buffer
    child = context.Process(target=_draw, args=(sender, builder, prepare, count, size),
                            name="synthetic-draw", daemon=True)
    child.start()
    sender.close()
    try:
        while True:
            try:
                kind, payload = receiver.recv()
            except EOFError:
                raise DrawingFailed("the process drawing the data stopped") from None
            if kind == "batch":
                yield payload
            elif kind == "summary":
                builder.summary = payload
                return
            else:
                raise DrawingFailed(f"drawing the data failed ({payload})")
    finally:
        receiver.close()
        if child.is_alive():
            child.terminate()
        child.join()


def _draw(sender, builder, prepare, count: int, size: int) -> None:
    """In the child: draw, prepare and send every batch, then the counts."""
    gc.freeze()  # what came from the parent is never collected (or closed) here
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the parent's to handle
    try:
        for rows in builder.batches(count, size):
            sender.send(("batch", prepare(rows)))
        sender.send(("summary", builder.summary))
    except BaseException as exc:
        # Only the type leaves this process: a message or a traceback on stderr could
        # quote a value. A parent that stopped reading (BrokenPipeError) needs nothing.
        with suppress(OSError):
            sender.send(("error", type(exc).__name__))
    finally:
        sender.close()
