"""Running the rules: ``iptables-save`` to see what is installed, ``iptables-restore --noflush`` to change it.

Whichever ``iptables-save`` / ``iptables-restore`` is first on PATH is used (nft or legacy
backend alike; the image installs Debian's ``iptables``, nft by default).  Failures are
raised as :class:`CaptureError` carrying the command's stderr, so the init container exits
non-zero with a readable reason and the pod does not start uncaptured.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence

from proxy.init.rules import CaptureSettings, chains_in, cleanup_rules, install_rules

TIMEOUT = 30.0


class CaptureError(Exception):
    """iptables could not be run or refused the rules."""


def _run(argv: Sequence[str], *, stdin: str | None = None) -> str:
    if shutil.which(argv[0]) is None:
        raise CaptureError(f"{argv[0]}: not found on PATH (install the 'iptables' package)")
    try:
        done = subprocess.run(list(argv), input=stdin, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise CaptureError(f"{' '.join(argv)}: {e}") from e
    if done.returncode != 0:
        raise CaptureError(f"{' '.join(argv)} failed (exit {done.returncode}): {done.stderr.strip()[:1000]}")
    return done.stdout


def saved_nat() -> str:
    return _run(["iptables-save", "-t", "nat"])


def installed_chains() -> tuple[str, ...]:
    """The SMI_ chains present in the nat table now."""
    return chains_in(saved_nat())


def apply(settings: CaptureSettings) -> str:
    """Install (or replace) the capture rules; returns the restore text that was applied."""
    try:
        text = install_rules(settings, saved=saved_nat())
    except ValueError as e:
        raise CaptureError(f"invalid capture settings: {e}") from e
    _run(["iptables-restore", "--noflush"], stdin=text)
    return text


def cleanup() -> str | None:
    """Remove every hook and chain of ours; returns the applied text (None if there was nothing)."""
    text = cleanup_rules(saved=saved_nat())
    if text is not None:
        _run(["iptables-restore", "--noflush"], stdin=text)
    return text
