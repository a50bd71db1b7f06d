"""The rollout bench keeps the median run of its repetitions (timing itself is never tested)."""

from __future__ import annotations

from tools.bench_rollout import median


def run(seconds):
    return {"seconds": seconds, "roles": {}, "changed": {}}


def test_the_median_run_is_kept_whole():
    runs = [run(31.0), run(24.9), run(26.2)]
    assert median(runs) is runs[2]


def test_an_even_count_keeps_the_lower_middle_run():
    runs = [run(30.0), run(20.0), run(25.0), run(28.0)]
    assert median(runs)["seconds"] == 25.0
    assert median([run(7.0)])["seconds"] == 7.0
