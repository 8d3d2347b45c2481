"""Specification of hypernet_lib.measure: interleaved median timing and peak memory of a call."""

import pytest
import torch

from hypernet_lib import median_times, peak_memory_bytes


def test_median_times_calls_every_function_warmup_plus_repeats_times():
    calls = {"a": 0, "b": 0}

    def bump(name):
        calls[name] += 1

    out = median_times({"a": lambda: bump("a"), "b": lambda: bump("b")}, repeats=5, warmup=2)
    assert set(out) == {"a", "b"} and all(t >= 0 for t in out.values())
    assert calls == {"a": 7, "b": 7}


def test_peak_memory_sees_a_temporary_that_is_freed_before_the_call_returns():
    def work():
        a = torch.ones(1_000_000)  # 4 MB, freed when work returns
        b = a * 2  # another 4 MB while a is alive: the peak is 8 MB
        return float(b[0])

    peak = peak_memory_bytes(work)
    assert 8_000_000 <= peak < 9_000_000


def test_measuring_memory_writes_no_profiler_lines_to_stderr(capfd):
    peak_memory_bytes(lambda: torch.ones(1000) * 2)
    assert "profiler_start" not in capfd.readouterr().err


def test_an_in_place_update_allocates_next_to_nothing():
    x = torch.ones(1_000_000)
    assert peak_memory_bytes(lambda: x.add_(1)) < 1_000  # at most a scalar wrapped as a tensor


def test_bad_input_is_rejected():
    with pytest.raises(TypeError, match="non-empty dict"):
        median_times({})
    with pytest.raises(TypeError, match="callable"):
        median_times({"a": 3})
    with pytest.raises(ValueError, match="positive integer"):
        median_times({"a": lambda: None}, repeats=0)
    with pytest.raises(ValueError, match="non-negative integer"):
        median_times({"a": lambda: None}, warmup=-1)
    with pytest.raises(TypeError, match="callable"):
        peak_memory_bytes(None)
    with pytest.raises(ValueError, match="cpu"):
        peak_memory_bytes(lambda: None, device="meta")


def test_roofline_fraction_judges_a_kernel_against_the_lower_of_its_two_roofs():
    from hypernet_lib.measure import roofline_fraction

    peaks = {"flops": 100e9, "bandwidth": 10e9}
    # 1 GFLOP over 1 GB: intensity 1 FLOP/byte, so the bandwidth roof (10 GFLOP/s) binds; 0.2 s is 5 GFLOP/s
    assert roofline_fraction(1e9, 1e9, 0.2, peaks) == pytest.approx(0.5)
    # 1 GFLOP over 1 MB: compute-bound, judged against 100 GFLOP/s
    assert roofline_fraction(1e9, 1e6, 0.02, peaks) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="seconds: expected a positive finite number"):
        roofline_fraction(1e9, 1e6, 0.0, peaks)


def test_machine_peaks_measures_both_ceilings():
    from hypernet_lib.measure import machine_peaks

    peaks = machine_peaks(size=128, repeats=2)
    assert set(peaks) == {"flops", "bandwidth"} and all(v > 0 for v in peaks.values())
