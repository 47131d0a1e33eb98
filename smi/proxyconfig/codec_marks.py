"""Field metadata the codec reads (kept apart so the types need not import the codec)."""

from __future__ import annotations

from typing import Final

OMIT_DEFAULT: Final = "omit_default"
"""Leave the field out of the JSON while it has its default: fields added to the contract later
(resilience), so a config that does not use them encodes exactly as before."""
