"""The restart policy of a crashed process, like a kubelet's CrashLoopBackOff.

Delays double from 1 s up to a 30 s cap (1, 2, 4, 8, 16, 30, 30 …); a process that ran
healthily for 60 s has its count reset, so an occasional crash restarts quickly again.
"""

from __future__ import annotations

from dataclasses import dataclass

from smi.proxyconfig.backoff import backoff_delay

INITIAL_DELAY = 1.0
MAX_DELAY = 30.0
RESET_AFTER = 60.0


@dataclass(frozen=True, slots=True)
class Backoff:
    initial: float = INITIAL_DELAY
    cap: float = MAX_DELAY
    reset_after: float = RESET_AFTER

    def delay(self, failures: int) -> float:
        """The wait before restart number ``failures`` (1-based count of consecutive crashes)."""
        return backoff_delay(failures, initial=self.initial, cap=self.cap)

    def failures_after(self, *, previous: int, ran_for: float) -> int:
        """The consecutive-crash count after a process that ran ``ran_for`` seconds exited."""
        return 1 if ran_for >= self.reset_after else previous + 1
