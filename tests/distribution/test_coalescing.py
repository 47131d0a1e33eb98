"""The coalescer's timing, on looptime's fake clock (no real waiting)."""

from __future__ import annotations

import asyncio

import pytest

from smi.distribution import Coalescer, CoalescingSettings


@pytest.mark.looptime
async def test_a_single_change_fires_after_the_quiet_window(looptime: float) -> None:
    coalescer = Coalescer(CoalescingSettings(window=0.05, max_wait=0.5))
    coalescer.poke()
    assert await coalescer.wait() == 1
    assert looptime == pytest.approx(0.05)


@pytest.mark.looptime
async def test_a_burst_is_one_batch_fired_after_the_last_change(looptime: float) -> None:
    coalescer = Coalescer(CoalescingSettings(window=0.05, max_wait=0.5))

    async def burst() -> None:
        for _ in range(5):
            coalescer.poke()
            await asyncio.sleep(0.02)  # fake time: the producer's pacing, not synchronisation

    producer = asyncio.create_task(burst())
    assert await coalescer.wait() == 5
    assert looptime == pytest.approx(0.08 + 0.05)  # last poke at 0.08, then one quiet window
    await producer


@pytest.mark.looptime
async def test_a_steady_trickle_fires_at_the_maximum_wait(looptime: float) -> None:
    coalescer = Coalescer(CoalescingSettings(window=0.05, max_wait=0.5))

    async def trickle() -> None:
        for _ in range(100):  # a change every 30 ms for 3 s: never a quiet window
            coalescer.poke()
            await asyncio.sleep(0.03)

    producer = asyncio.create_task(trickle())
    first = await coalescer.wait()
    assert looptime == pytest.approx(0.5)
    second = await coalescer.wait()
    assert float(looptime) == pytest.approx(1.01)  # opened by the poke at 0.51, closed 0.5 s later
    assert first >= 16 and second >= 16
    producer.cancel()
    await asyncio.gather(producer, return_exceptions=True)


@pytest.mark.looptime
async def test_nothing_fires_without_a_change(looptime: float) -> None:
    coalescer = Coalescer()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(coalescer.wait(), timeout=60)
    assert looptime == pytest.approx(60)


def test_settings_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="max_wait"):
        CoalescingSettings(window=1.0, max_wait=0.1)
    with pytest.raises(ValueError, match=">= 0"):
        CoalescingSettings(window=-1, max_wait=0.1)
