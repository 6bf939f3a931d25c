"""node_timex_*: the kernel clock's discipline, read with adjtimex(2) in read-only mode
(modes 0, no privilege needed), scaled as node_exporter scales it."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

_TIME_ERROR = 5  # adjtimex's answer while the clock is not synchronised
_STA_NANO = 0x2000  # offset and jitter are in nanoseconds rather than microseconds
_PPM16 = 1_000_000.0 * 65536.0  # frequencies are in ppm with a 16-bit fraction


class _Timex(ctypes.Structure):
    """glibc's struct timex (every field a long but the ints below, then 11 spare ints)."""

    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time_sec", ctypes.c_long),
        ("time_usec", ctypes.c_long),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_spare", ctypes.c_int * 11),
    ]


_libc = ctypes.CDLL(None, use_errno=True)


def _adjtimex() -> tuple[int, _Timex]:
    timex = _Timex()
    state = _libc.adjtimex(ctypes.byref(timex))
    if state < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))
    return state, timex


def collect() -> Iterable[Metric]:
    state, t = _adjtimex()
    divisor = 1e9 if t.status & _STA_NANO else 1e6
    gauges = [
        (
            "sync_status",
            "Is clock synchronized to a reliable server (1 = yes, 0 = no).",
            0.0 if state == _TIME_ERROR else 1.0,
        ),
        (
            "offset_seconds",
            "Time offset in between local system and reference clock.",
            t.offset / divisor,
        ),
        ("frequency_adjustment_ratio", "Local clock frequency adjustment.", 1 + t.freq / _PPM16),
        ("maxerror_seconds", "Maximum error in seconds.", t.maxerror / 1e6),
        ("estimated_error_seconds", "Estimated error in seconds.", t.esterror / 1e6),
        ("status", "Value of the status array bits.", float(t.status)),
        ("loop_time_constant", "Phase-locked loop time constant.", float(t.constant)),
        ("tick_seconds", "Seconds between clock ticks.", t.tick / 1e6),
        ("pps_frequency_hertz", "Pulse per second frequency.", t.ppsfreq / _PPM16),
        ("pps_jitter_seconds", "Pulse per second jitter.", t.jitter / divisor),
        ("pps_shift_seconds", "Pulse per second interval duration.", float(t.shift)),
        (
            "pps_stability_hertz",
            "Pulse per second stability, average of recent frequency changes.",
            t.stabil / _PPM16,
        ),
        ("tai_offset_seconds", "International Atomic Time (TAI) offset.", float(t.tai)),
    ]
    for name, help_, value in gauges:
        yield GaugeMetricFamily(f"node_timex_{name}", help_, value=value)
    counters = [
        ("pps_jitter", "Pulse per second count of jitter limit exceeded events.", t.jitcnt),
        ("pps_calibration", "Pulse per second count of calibration intervals.", t.calcnt),
        ("pps_error", "Pulse per second count of calibration errors.", t.errcnt),
        (
            "pps_stability_exceeded",
            "Pulse per second count of stability limit exceeded events.",
            t.stbcnt,
        ),
    ]
    for name, help_, value in counters:
        yield CounterMetricFamily(f"node_timex_{name}", help_, value=float(value))
