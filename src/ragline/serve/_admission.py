"""How many ``/v1`` requests the server works on at once: a fixed bound, or one that adapts.

A fixed bound cannot suit every machine and model: at ~67 QPS of capacity, 64 admitted requests
queue ~1 s each, while a small bound wastes a bigger machine. ``AdaptiveLimit`` keeps admitted
latency near the unloaded latency instead (a latency-gradient limiter, Vegas-style, with AIMD):

* latencies of uncached searches are gathered in windows of ``window`` samples; a window's
  statistic is its 90th percentile;
* the baseline is the lowest window statistic seen (what one request costs unloaded);
* a window above ``tolerance`` x baseline cuts the limit by the gradient, tolerance / ratio (at
  least by one): by Little's law, ``limit`` requests taking ``ratio`` x baseline is a capacity of
  limit / (ratio x baseline), and the limit that keeps latency at tolerance x baseline is that
  capacity times it. A limit far too high (64 where 3 would do) is thus cut in one step rather
  than halved window after window, each window waiting for requests queued behind the old limit;
  samples from requests admitted before a cut are dropped, so one slow period cuts once, not once
  per window of stragglers;
* a window within tolerance while the limit was pressed (in flight reached it) grows the limit by
  one; an idle server does not grow its limit;
* a window above tolerance with the limit already at its minimum means single requests got
  slower (a bigger corpus, a busy machine): the baseline moves up by 10% toward it.

Every method takes ``now`` explicitly, so the controller is tested with made-up latencies and
clocks; ``limit`` is the bound in force.
"""

from __future__ import annotations

import math


class StaticLimit:
    """A fixed in-flight bound (``admission="static"``)."""

    def __init__(self, limit: int):
        if limit < 1:
            raise ValueError(f"the in-flight limit must be >= 1, got {limit}")
        self.limit = limit

    def observe(self, latency_s: float, *, started: float, in_flight_peak: int) -> None:
        """A static bound learns nothing."""


class AdaptiveLimit:
    """The in-flight bound that follows latency (see the module docstring)."""

    def __init__(self, *, initial: int = 8, minimum: int = 2, maximum: int = 64, tolerance: float = 1.5,
                 window: int = 16, baseline_raise: float = 1.1):
        if not 1 <= minimum <= initial <= maximum:
            raise ValueError(f"need 1 <= minimum <= initial <= maximum, got {minimum}, {initial}, {maximum}")
        if tolerance <= 1.0 or window < 1 or baseline_raise <= 1.0:
            raise ValueError("need tolerance > 1, window >= 1 and baseline_raise > 1")
        self.limit, self.minimum, self.maximum = initial, minimum, maximum
        self.tolerance, self.window, self.baseline_raise = tolerance, window, baseline_raise
        self.baseline: float | None = None
        self.history: list[int] = [initial]  # every limit taken, in order
        self._samples: list[float] = []
        self._pressed = False
        self._cut_at = -math.inf  # when the limit was last cut

    def observe(self, latency_s: float, *, started: float, in_flight_peak: int) -> None:
        """One admitted request's latency; ``started`` is when it was admitted (the clock the
        caller uses), ``in_flight_peak`` how many were in flight, itself included, when it was."""
        if started < self._cut_at:
            return  # admitted under the limit before the last cut: not evidence about this one
        self._samples.append(latency_s)
        self._pressed = self._pressed or in_flight_peak >= self.limit
        if len(self._samples) >= self.window:
            self._close_window(now=started + latency_s)

    def _close_window(self, *, now: float) -> None:
        samples = sorted(self._samples)
        stat = samples[min(len(samples) - 1, math.ceil(0.9 * len(samples)) - 1)]
        pressed = self._pressed
        self._samples, self._pressed = [], False
        if self.baseline is None or stat < self.baseline:
            self.baseline = stat
        ratio = stat / self.baseline if self.baseline > 0 else 1.0
        if ratio > self.tolerance:
            if self.limit <= self.minimum:
                self.baseline = min(stat, self.baseline * self.baseline_raise)
                return
            cut = math.floor(self.limit * self.tolerance / ratio)
            self._set(max(self.minimum, min(self.limit - 1, cut)))
            self._cut_at = now
        elif pressed and self.limit < self.maximum:
            self._set(self.limit + 1)

    def _set(self, limit: int) -> None:
        self.limit = limit
        self.history.append(limit)


__all__ = ["AdaptiveLimit", "StaticLimit"]
