"""Logging as the CLI and the service workers set it up: one line per record on stderr."""

from __future__ import annotations

import atexit
import logging
import sys
import threading
import time

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
NOISY = ("httpx", "httpcore", "jieba")
FLUSH_EVERY = 0.2  # seconds a serving worker's log lines may wait in its buffer


class _Formatter(logging.Formatter):
    """:data:`FORMAT`, with the date and time of the current second made once, not per line."""

    def __init__(self, fmt: str) -> None:
        super().__init__(fmt)
        self._second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        if datefmt:
            return super().formatTime(record, datefmt)
        return self.stamp(record.created)

    def stamp(self, created: float) -> str:
        """``%(asctime)s`` of a record made at ``created``."""
        whole = int(created)
        second = self._second
        if second[0] != whole:
            second = self._second = (whole, time.strftime(self.default_time_format,
                                                          self.converter(whole)))
        return self.default_msec_format % (second[1], int((created - whole) * 1000))


def configure(level: int | str) -> None:
    """Log at ``level`` in :data:`FORMAT`. Records skip what the format never shows (the
    process and thread ids and names, the caller's file and line): the webhook writes a
    record per message, and looking those up costs more than writing the line."""
    logging.basicConfig(level=level, format=FORMAT, stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        if handler.formatter is not None and handler.formatter._fmt == FORMAT:
            handler.setFormatter(_Formatter(FORMAT))
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.logProcesses = False
    logging.logThreads = False
    logging.logMultiprocessing = False
    logging._srcfile = None  # type: ignore[attr-defined]  # the documented switch for caller lookup


class BlockHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Lines to stderr in blocks: written to a buffer, which goes out every
    :data:`FLUSH_EVERY` seconds, when it fills, at once for a warning or worse, and at exit.
    A serving worker logs a line per message; one write to stderr per line cost it more than
    the line. A worker killed outright (SIGKILL) loses at most the last fraction of a second."""

    def __init__(self, every: float = FLUSH_EVERY) -> None:
        stream = open(  # noqa: SIM115 - lives as long as the process; flushed at exit
            sys.stderr.fileno(), "w", encoding="utf-8", errors="backslashreplace",
            buffering=1 << 16, closefd=False,
        )
        super().__init__(stream)
        self.every = every
        # also when a logging set-up elsewhere (a server's) has dropped this handler
        atexit.register(self.flush)
        threading.Thread(target=self._flusher, name="log-flush", daemon=True).start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + self.terminator)
            if record.levelno >= logging.WARNING:
                self.stream.flush()
        except Exception:  # noqa: BLE001 - logging's own rule: report, never raise
            self.handleError(record)

    def write_line(self, line: str) -> None:
        """Add one formatted line to the buffer (see :func:`info`). Like ``emit``, it never
        raises: a full or closed stderr costs the line, not the message being answered."""
        try:
            with self.lock:  # type: ignore[union-attr]
                self.stream.write(line + self.terminator)
        except Exception:  # noqa: BLE001
            self.handleError(logging.makeLogRecord({"msg": line}))

    def flush(self) -> None:
        """Write out the buffer; a stderr that cannot take it is reported, never raised."""
        try:
            super().flush()
        except Exception:  # noqa: BLE001
            self.handleError(logging.makeLogRecord({"msg": "(flushing the log buffer)"}))

    def _flusher(self) -> None:
        while True:
            time.sleep(self.every)
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - the thread outlives any one failure
                pass


def buffer_stderr(every: float = FLUSH_EVERY) -> None:
    """Swap the root logger's stderr handler (from :func:`configure`) for a
    :class:`BlockHandler` with the same level and format: for serving workers."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if type(handler) is logging.StreamHandler and handler.stream in (sys.stderr, sys.__stderr__):
            block = BlockHandler(every)
            block.setLevel(handler.level)
            block.setFormatter(handler.formatter)
            root.removeHandler(handler)
            root.addHandler(block)


def flush() -> None:
    """Write out what the root logger's handlers hold (a :class:`BlockHandler`'s buffer)."""
    for handler in logging.getLogger().handlers:
        handler.flush()


def info(logger: logging.Logger, message: str) -> None:
    """``logger.info(message)``. When the line can only end in the root's one
    :class:`BlockHandler` with :data:`FORMAT` (no other handler or filter on the way), the same
    line goes into its buffer without a log record: the webhook logs one per message.
    Kept for speed: a record per message costs the webhook more (docs/performance.md)."""
    root = logging.root
    handlers = root.handlers
    block = handlers[0] if len(handlers) == 1 else None
    if (
        type(block) is BlockHandler
        and type(block.formatter) is _Formatter
        and block.level <= logging.INFO
        and not block.filters
        and _straight_to_root(logger)
    ):
        block.write_line(f"{block.formatter.stamp(time.time())} INFO {logger.name} {message}")
    elif logger.isEnabledFor(logging.INFO):
        logger.info(message)


def _straight_to_root(logger: logging.Logger) -> bool:
    """Whether ``logger``'s INFO records reach only the root's handlers, unfiltered."""
    if not logger.isEnabledFor(logging.INFO):
        return False
    node: logging.Logger | None = logger
    while node is not None:
        if node.filters or (node is not logging.root and (node.handlers or not node.propagate)):
            return False
        node = node.parent
    return True
