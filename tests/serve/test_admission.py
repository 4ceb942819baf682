"""The adaptive admission limit, driven with made-up latencies and an explicit clock (no sleeps,
no timing), and its wiring into the server: the limit is a gauge, a cache hit teaches nothing."""

from __future__ import annotations

import pytest

from ragline.serve._admission import AdaptiveLimit, StaticLimit
from ragline.serve.app import admission_limiter
from ragline.serve.settings import ServeSettings


class Clock:
    def __init__(self) -> None:
        self.now = 0.0


def feed(limit: AdaptiveLimit, clock: Clock, latency: float, n: int, *, pressed: bool = True) -> None:
    """``n`` requests one after another, each admitted at ``clock.now`` and lasting ``latency``."""
    for _ in range(n):
        limit.observe(latency, started=clock.now, in_flight_peak=limit.limit if pressed else 1)
        clock.now += latency


def test_limit_converges_down_under_rising_latency_and_stops_at_the_minimum():
    limit, clock = AdaptiveLimit(initial=32, minimum=2, maximum=64, window=10), Clock()
    feed(limit, clock, 0.010, 10)  # unloaded: the baseline
    assert limit.baseline == pytest.approx(0.010)
    assert limit.limit == 33  # within tolerance while pressed: one more
    for latency in (0.020, 0.040, 0.080, 0.160, 0.320):
        feed(limit, clock, latency, 10)
    # 2x the baseline at tolerance 1.5 cuts by 1.5/2 (33 -> 24), 4x by 1.5/4 (24 -> 9), 8x to 1,
    # which the minimum holds at 2; then 16x and 32x cannot cut further.
    assert limit.history == [32, 33, 24, 9, 2]
    feed(limit, clock, 0.320, 30)
    assert limit.limit == 2  # never below the minimum


def test_limit_recovers_when_latency_falls_and_stops_at_the_maximum():
    limit, clock = AdaptiveLimit(initial=8, minimum=2, maximum=12, window=5), Clock()
    feed(limit, clock, 0.010, 5)
    feed(limit, clock, 0.100, 5)
    assert limit.history == [8, 9, 2]  # 10x the baseline: 9 x 1.5/10 = 1, held at the minimum
    feed(limit, clock, 0.011, 5 * 20)  # back near the baseline, and the limit is pressed
    assert limit.limit == 12
    assert limit.history[2:] == list(range(2, 13))  # one step a window, up to the maximum


def test_an_idle_server_does_not_grow_its_limit():
    limit, clock = AdaptiveLimit(initial=8, minimum=2, maximum=64, window=5), Clock()
    feed(limit, clock, 0.010, 50, pressed=False)
    assert limit.limit == 8 and limit.history == [8]


def test_samples_admitted_before_a_cut_do_not_cut_again():
    limit, clock = AdaptiveLimit(initial=16, minimum=2, maximum=64, window=4), Clock()
    feed(limit, clock, 0.010, 4)  # baseline; grows to 17
    # Eight slow requests all admitted at the same moment (under the old limit) finish together.
    admitted_at = clock.now
    for _ in range(8):
        limit.observe(0.020, started=admitted_at, in_flight_peak=17)
    assert limit.history == [16, 17, 12]  # one cut for the window, the other four stragglers ignored
    clock.now = admitted_at + 0.020
    feed(limit, clock, 0.020, 4)  # slow requests admitted after the cut do count
    assert limit.history == [16, 17, 12, 9]


def test_at_the_minimum_a_slower_machine_raises_the_baseline_instead():
    limit, clock = AdaptiveLimit(initial=2, minimum=2, maximum=8, window=5), Clock()
    feed(limit, clock, 0.010, 5)
    assert limit.limit == 3
    feed(limit, clock, 0.050, 5)
    assert limit.limit == 2
    baselines = []
    for _ in range(30):  # single requests now take 50 ms: the baseline follows, 10% a window
        feed(limit, clock, 0.050, 5)
        baselines.append(limit.baseline)
    assert baselines == sorted(baselines) and 0.050 / 1.5 <= baselines[-1] < 0.050
    assert limit.limit == 8  # 50 ms within tolerance of the new baseline: the limit grows again


def test_bad_bounds_are_refused():
    with pytest.raises(ValueError):
        AdaptiveLimit(initial=1, minimum=2, maximum=8)
    with pytest.raises(ValueError):
        AdaptiveLimit(initial=4, minimum=2, maximum=8, tolerance=1.0)
    with pytest.raises(ValueError):
        StaticLimit(0)


def test_settings_choose_the_limiter():
    adaptive = admission_limiter(ServeSettings(max_in_flight=64))
    assert isinstance(adaptive, AdaptiveLimit)  # starting at the maximum
    assert (adaptive.limit, adaptive.minimum, adaptive.maximum, adaptive.tolerance) == (64, 1, 64, 1.5)
    static = admission_limiter(ServeSettings(admission="static", max_in_flight=64))
    assert isinstance(static, StaticLimit) and static.limit == 64
    assert isinstance(admission_limiter(ServeSettings(max_in_flight=1)), StaticLimit)
    assert isinstance(admission_limiter(ServeSettings(max_in_flight=2, admission_min_limit=2)), StaticLimit)


def test_the_server_exposes_the_limit_and_learns_only_from_uncached_searches(make_client):
    with make_client(auth=False, admission="adaptive", max_in_flight=32) as client:
        limiter = client.app.state.admission
        assert isinstance(limiter, AdaptiveLimit)
        limiter.window = 4
        assert "ragline_admission_limit 32.0" in client.get("/metrics").text
        for _ in range(8):  # the same query: the first is searched, the rest come from the cache
            assert client.post("/v1/search", json={"query": "wing flutter"}).status_code == 200
        assert limiter.baseline is None and limiter._samples == [limiter._samples[0]]
        for i in range(3):  # three more uncached searches close the first window
            assert client.post("/v1/search", json={"query": f"boundary layer {i}"}).status_code == 200
        assert limiter.baseline is not None and limiter._samples == []
        assert client.get("/healthz").status_code == 200  # not a sample, never shed
        assert limiter._samples == []
