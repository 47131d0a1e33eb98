"""Suite-wide options and fixtures.

* ``--update-golden``: regenerate golden files instead of comparing against them.
* ``shared_dir``: the ``../shared`` reference folder beside the checkout; tests that use it
  skip with a clear reason on a user's clone, where it does not exist.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", default=False, help="rewrite golden files")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED / "smi-spec").is_dir():
        pytest.skip(f"reference data not present: {SHARED}/smi-spec (only beside the project's CI checkout)")
    return SHARED
