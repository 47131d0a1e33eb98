"""Output that can never stop a shutdown: ``smi up 2>&1 | tee log`` and Ctrl-C.

Ctrl-C reaches the whole pipeline, so ``tee`` is gone by the time the runtime prints
"stopping": the write raises ``BrokenPipeError`` and, before this module, the exception
skipped the rest of the shutdown (the pods survived).  A closed terminal (SIGHUP) gives
``EIO`` the same way.  ``install()`` wraps ``sys.stdout`` and ``sys.stderr`` so that the first
failed write points the file descriptor at ``/dev/null`` (nothing else, including the
interpreter's final flush and logging's handlers, can fail or block on it again) and every
later write is quietly dropped.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from typing import TextIO


class QuietStream(io.TextIOBase):
    def __init__(self, inner: TextIO) -> None:
        self.inner = inner
        self.broken = False

    def _silence(self) -> None:
        self.broken = True
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.inner.fileno())
            os.close(devnull)

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                self.inner.write(text)
                if "\n" in text:
                    self.inner.flush()
            except (OSError, ValueError):
                self._silence()
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self.inner.flush()
            except (OSError, ValueError):
                self._silence()

    def isatty(self) -> bool:
        return not self.broken and self.inner.isatty()

    def fileno(self) -> int:
        return self.inner.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.inner.encoding


def install() -> None:
    """Wrap ``sys.stdout`` and ``sys.stderr`` (idempotent)."""
    if not isinstance(sys.stdout, QuietStream):
        sys.stdout = QuietStream(sys.stdout)
    if not isinstance(sys.stderr, QuietStream):
        sys.stderr = QuietStream(sys.stderr)


__all__ = ["QuietStream", "install"]
