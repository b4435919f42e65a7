"""benchmarks/common.py's `fit_epoch_seconds`: which seconds count as a fit epoch."""

from __future__ import annotations

import pytest
from test_report import load

FIT_SECONDS = [9.0, 2.0, 3.0, 2.5]  # the warm-up epoch, then three timed ones
DRAW_SECONDS = 0.75  # each epoch's draw of its negatives, inside `fit`


class Clock:
    """A perf_counter that only `FakeModel.fit` moves."""

    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeSamples:
    """What `fit_epoch_seconds` reads of `TrainingSamples`: `sample_seconds`."""

    def __init__(self):
        self.sample_seconds: dict[int, tuple[float, float]] = {}


class FakeModel:
    """`fit` draws the epoch's negatives (recorded as `TrainingSamples` records them), then fits."""

    def __init__(self, clock: Clock, samples: FakeSamples):
        self.clock, self.samples, self.epochs = clock, samples, 0

    def fit(self, fed, epochs, callbacks, verbose):
        # `fit_input` passes what is not a `TrainingSamples` through as it is (with, on
        # TensorFlow, a callback that restores glibc's settings: not this test's concern).
        assert (fed, epochs, verbose) == (self.samples, 1, 0)
        self.samples.sample_seconds[self.epochs] = (self.clock.now, DRAW_SECONDS)
        self.clock.now += DRAW_SECONDS + FIT_SECONDS[self.epochs]
        self.epochs += 1
        return f"history of epoch {self.epochs}"


def test_fit_epoch_seconds_leaves_out_the_warm_up_and_each_draw(monkeypatch):
    common = load("common")
    clock, samples = Clock(), FakeSamples()
    monkeypatch.setattr(common.time, "perf_counter", clock)
    warmup, median, times, history = common.fit_epoch_seconds(
        FakeModel(clock, samples), samples, repeats=3
    )
    assert warmup == pytest.approx(FIT_SECONDS[0] + DRAW_SECONDS)  # compiling: not an epoch
    assert times == pytest.approx(FIT_SECONDS[1:])
    assert median == pytest.approx(2.5)
    assert history == "history of epoch 4"
