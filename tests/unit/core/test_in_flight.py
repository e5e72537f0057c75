"""The stopping worker's drain counter (streams/core/in_flight.py)."""
from __future__ import annotations

import asyncio

from streams.core.in_flight import InFlight


def test_idle_waits_for_running_work_and_gives_up_after_the_timeout():
    async def scenario():
        steps = InFlight()
        assert await steps.idle(0.01), "nothing running: idle at once"
        release = asyncio.Event()

        async def step():
            with steps.track():
                await release.wait()

        tasks = [asyncio.ensure_future(step()) for _ in range(3)]
        await asyncio.sleep(0)
        assert steps.count == 3
        assert not await steps.idle(0.05), "still running after the timeout"
        asyncio.get_running_loop().call_later(0.05, release.set)
        assert await steps.idle(5.0)
        await asyncio.gather(*tasks)
        assert (steps.count, steps.finished) == (0, 3)

    asyncio.run(scenario())


def test_a_failing_step_still_counts_as_finished():
    steps = InFlight()
    try:
        with steps.track():
            raise ValueError("corrupt mesh")
    except ValueError:
        pass
    assert (steps.count, steps.finished) == (0, 1)
