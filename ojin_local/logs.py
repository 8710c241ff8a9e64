"""Logging set-up: one line per record on stderr, written in batches.

Every request is logged, so the write is on the hot path: a flush per line (stderr is unbuffered
or line-buffered) cost more than a third of the throughput of a small GET. Lines are buffered
and written every FLUSH_SECONDS instead; warnings and errors are written at once.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

FLUSH_SECONDS = 0.2
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class Formatter(logging.Formatter):
    """Formats the timestamp once per second instead of once per line."""

    _second = -1
    _prefix = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return self.stamp(record.created)

    def stamp(self, created: float) -> str:
        second = int(created)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%d %H:%M:%S", self.converter(second))
        return f"{self._prefix},{int((created - second) * 1000):03d}"


class BatchingStreamHandler(logging.StreamHandler):
    def __init__(self) -> None:
        sys.stderr.flush()
        stream = open(os.dup(sys.stderr.fileno()), "w", buffering=1 << 16)  # noqa: SIM115
        super().__init__(stream)
        threading.Thread(target=self._flush_periodically, name="log-flush", daemon=True).start()

    def flush(self) -> None:
        """Called by `emit` after every line; only warnings and worse are written right away."""

    def emit(self, record: logging.LogRecord) -> None:
        super().emit(record)
        if record.levelno >= logging.WARNING:
            self.write_out()

    def write_out(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self.stream.flush()

    def close(self) -> None:
        self.write_out()
        super().close()

    def write_info(self, name: str, message: str) -> None:
        """An INFO line in FORMAT, without a LogRecord (see AccessLog)."""
        formatter = self.formatter
        stamp = formatter.stamp(time.time()) if isinstance(formatter, Formatter) else ""
        line = f"{stamp} INFO {name}: {message}\n"
        with self.lock:  # type: ignore[union-attr]
            self.stream.write(line)

    def _flush_periodically(self) -> None:
        stop = threading.Event()
        while not stop.wait(FLUSH_SECONDS):
            self.write_out()


class AccessLog:
    """The one line logged per request. Going through `Logger.info` cost ~9 us a request (a
    LogRecord, handler lookups, %-formatting); when the log is ours, the line is written
    straight to its handler, in the same format, for ~1.5 us."""

    def __init__(self, name: str) -> None:
        self.logger = logging.getLogger(name)

    def info(self, message: str) -> None:
        if not self.logger.isEnabledFor(logging.INFO):
            return
        if _handler is None:
            self.logger.info(message)
        else:
            _handler.write_info(self.logger.name, message)


_handler: BatchingStreamHandler | None = None


def setup_logging(level: str) -> None:
    # The optimizations the logging docs list: no caller, thread or process lookups per record.
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    global _handler
    handler = BatchingStreamHandler()
    handler.setFormatter(Formatter(FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler])
    _handler = handler
    if level != "debug":
        # Sanic's and Huey's start-up chatter; our own lines say what matters.
        for noisy in ("sanic", "huey"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    # Never at debug level, whatever ours is: botocore's debug lines carry each request's
    # signature and every pre-signed URL it makes, which are credentials.
    for leaky in ("botocore", "boto3", "s3transfer", "urllib3"):
        logging.getLogger(leaky).setLevel(max(logging.INFO, logging.getLogger().level))
