"""Turn a camera's raw frame counter into frame indices since start, counting every gap.

A camera numbers the frames it sends (GigE Vision BlockID 1…65535 then wrapping, skipping 0;
USB3 Vision BlockID from 0 on 64 bits; a chunk frame counter). Frames lost on the way show up
only as a jump in that number, so every driver that must "never silently skip" passes each raw
number through one :class:`FrameCounter` and reports the jumps as dropped frames.
"""

from __future__ import annotations

from dataclasses import dataclass

GIGE_BLOCK_ID_PERIOD = 65535  # GigE Vision 1.x: 16-bit block IDs 1..65535, 0 is never used
# The first BlockID of a grab (pylon documentation of the grab result's BlockID): GigE counts
# from 1, USB3 Vision (and pylon's camera emulator) from 0.
GIGE_BLOCK_ID_ORIGIN = 1
USB_BLOCK_ID_ORIGIN = 0


class CounterWentBackwards(ValueError):
    """The raw counter decreased without a wrap: the camera restarted its numbering."""


@dataclass(frozen=True, slots=True)
class CounterStep:
    index: int  # frames since the first one observed (first frame = 0)
    gap: int  # frames missing between the previous observation and this one


class FrameCounter:
    """Unwraps a raw counter and reports gaps.

    ``period`` is the number of distinct raw values before the counter repeats (None: it never
    wraps within a session, e.g. a 64-bit counter). ``origin`` is the raw value of the first frame
    of a grab when the transport defines it: frames lost before the first one that arrives are
    then counted too, and index 0 is the first frame the camera sent, not the first received.
    Without it, the first frame received is index 0. A wrap is recognised only when the counter
    falls from the top quarter of its period to the bottom quarter; any other decrease raises
    :class:`CounterWentBackwards`, because guessing there would hide a camera reset.
    """

    def __init__(self, period: int | None = None, origin: int | None = None) -> None:
        self.period = period
        self.origin = origin
        self._first_raw: int | None = None
        self._last_raw = 0
        self._offset = 0  # added to raw values after wraps
        self._last_index = -1
        self.total_gap = 0

    @property
    def started(self) -> bool:
        return self._first_raw is not None

    @property
    def last_index(self) -> int:
        return self._last_index

    def observe(self, raw: int) -> CounterStep:
        """Account for a frame (delivered or failed) carrying raw counter value ``raw``."""
        raw = int(raw)
        if self._first_raw is None:
            if self.origin is not None and raw < self.origin:
                raise CounterWentBackwards(f"the first frame counter {raw} is below {self.origin}")
            self._first_raw = raw if self.origin is None else self.origin
            self._last_raw = raw
            self._last_index = raw - self._first_raw
            self.total_gap = self._last_index
            return CounterStep(self._last_index, self._last_index)
        if raw <= self._last_raw:
            if self._wrapped(raw):
                self._offset += self.period  # type: ignore[operator]
            else:
                raise CounterWentBackwards(
                    f"the frame counter went from {self._last_raw} to {raw}"
                    if raw < self._last_raw
                    else f"the frame counter repeated {raw}"
                )
        self._last_raw = raw
        index = raw + self._offset - self._first_raw
        gap = index - self._last_index - 1
        self._last_index = index
        self.total_gap += gap
        return CounterStep(index, gap)

    def assume_next(self) -> CounterStep:
        """Account for a frame that carried no usable number: it is taken as the next one."""
        if self._first_raw is None:
            return self.observe(self.origin or 0)
        next_raw = self._last_raw + 1
        if self.period is not None and next_raw > self.period:
            next_raw = 1
        return self.observe(next_raw)

    def _wrapped(self, raw: int) -> bool:
        if self.period is None:
            return False
        quarter = self.period // 4
        return self._last_raw >= self.period - quarter and raw < quarter
