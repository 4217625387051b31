"""What the load saw, second by second, in HDR histograms merged across load processes.

Locust's own percentiles are rounded to about two significant digits with a 1 ms
floor, so a 0.4 ms p50 reads as 1 ms. Each load process here records every response
time, in microseconds, into a high-dynamic-range histogram per second of the run
(3 significant digits: exact to the microsecond up to 2 ms). It sends what it recorded
to the master as compressed histograms (`drain`); the master adds them up
(`Aggregate`), which is exact: percentiles of the sum are percentiles of all the
requests, not an average of per-worker percentiles.

Seconds count from the moment each load process was told to start, on its own
clock, so machines need no synchronised clocks.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000
"""One hour: anything slower is recorded as one hour."""
SIGNIFICANT_DIGITS = 3
PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def micros(seconds: float) -> int:
    """A duration in whole microseconds, within the histogram's range."""
    return min(max(round(seconds * 1_000_000), LOWEST_US), HIGHEST_US)


@dataclass
class Second:
    """One second of the run: responses, errors by kind, response times."""

    latency: HdrHistogram = field(default_factory=new_histogram)
    """From the intended send time (open loop) or the actual one (closed loop)."""
    service: HdrHistogram | None = None
    """Open loop only: from the actual send time, what an uncorrected tool reports."""
    count: int = 0
    errors: Counter[str] = field(default_factory=Counter)


class Recorder:
    """In one load process: records each response into the second it completed in."""

    def __init__(self) -> None:
        self._origin: float | None = None
        self._seconds: dict[int, Second] = {}
        self._cpu: list[tuple[int, float]] = []
        self._unfinished: list[float] = []

    def start(self, origin: float | None = None) -> None:
        """Second 0 begins now (or at `origin`, a `time.perf_counter()` value)."""
        self._origin = time.perf_counter() if origin is None else origin
        self._seconds.clear()
        self._cpu.clear()
        self._unfinished.clear()

    @property
    def started(self) -> bool:
        return self._origin is not None

    def elapsed(self, now: float | None = None) -> float:
        """Seconds since the start, on this process's `perf_counter` clock."""
        if self._origin is None:
            return 0.0
        return (time.perf_counter() if now is None else now) - self._origin

    def record(self, end: float, latency: float, service: float | None, error: str | None) -> None:
        """One response that completed at `end` (a `perf_counter` value)."""
        if self._origin is None:
            return
        index = int(end - self._origin)
        second = self._seconds.get(index)
        if second is None:
            second = self._seconds[index] = Second(
                service=None if service is None else new_histogram()
            )
        second.latency.record_value(micros(latency))
        if service is not None and second.service is not None:
            second.service.record_value(micros(service))
        second.count += 1
        if error is not None:
            second.errors[error] += 1

    def unfinished(self, waited: float) -> None:
        """A request still waiting for its answer when the run stopped, after `waited` s."""
        if self._origin is not None:
            self._unfinished.append(round(waited, 6))

    def sample_cpu(self, percent: float) -> None:
        """This process's CPU use since the previous sample, in % of one core."""
        if self._origin is not None:
            self._cpu.append((int(self.elapsed()), round(percent, 1)))

    def drain(self) -> dict[str, Any]:
        """Everything recorded since the last drain, as plain data; the recorder starts afresh."""
        chunk = {
            "seconds": [
                {
                    "second": index,
                    "count": second.count,
                    "errors": dict(second.errors),
                    "latency": _encode(second.latency),
                    "service": None if second.service is None else _encode(second.service),
                }
                for index, second in sorted(self._seconds.items())
            ],
            "cpu": [list(sample) for sample in self._cpu],
            "unfinished": list(self._unfinished),
        }
        self._seconds = {}
        self._cpu = []
        self._unfinished = []
        return chunk


@dataclass(frozen=True)
class Percentiles:
    """Response times in milliseconds (microsecond precision)."""

    p50: float
    p90: float
    p99: float
    p99_9: float
    max: float
    mean: float

    @classmethod
    def of(cls, histogram: HdrHistogram) -> Percentiles:
        values = histogram.get_percentile_to_value_dict(list(PERCENTILES))
        return cls(
            p50=_ms(values[50.0]),
            p90=_ms(values[90.0]),
            p99=_ms(values[99.0]),
            p99_9=_ms(values[99.9]),
            max=_ms(histogram.get_max_value()),
            mean=round(histogram.get_mean_value() / 1000, 3),
        )


@dataclass(frozen=True)
class Point:
    """One second on the timeline."""

    second: int
    measured: bool
    """False during the warm-up."""
    requests: int
    errors: int
    p50: float | None
    p99: float | None
    max: float | None


@dataclass(frozen=True)
class LoadProcess:
    """One Locust process generating load, and how hard it worked."""

    name: str
    users: int
    requests: int
    cpu_mean: float | None
    cpu_max: float | None


@dataclass(frozen=True)
class Figures:
    """The measured window's figures, the whole run's timeline, each load process."""

    requests: int
    errors: dict[str, int]
    error_rate: float
    rps: float
    latency: Percentiles | None
    service: Percentiles | None
    timeline: list[Point]
    processes: list[LoadProcess]
    unfinished: int
    """Requests still waiting for an answer when the run stopped: in no percentile."""
    unfinished_max_wait: float | None
    """The longest such wait, in seconds."""


@dataclass
class _Process:
    users: int = 0
    counts: Counter[int] = field(default_factory=Counter)
    cpu: list[tuple[int, float]] = field(default_factory=list)


class Aggregate:
    """On the master: every load process's chunks, added up second by second."""

    def __init__(self) -> None:
        self._seconds: dict[int, Second] = {}
        self._processes: dict[str, _Process] = {}
        self._unfinished: list[float] = []

    def join(self, name: str, users: int) -> None:
        """A load process takes part, with (at least) this many users."""
        process = self._processes.setdefault(name, _Process())
        process.users = max(process.users, users)

    def add(self, name: str, chunk: dict[str, Any]) -> None:
        """Merge one `Recorder.drain()` from the load process called `name`."""
        process = self._processes.setdefault(name, _Process())
        for item in chunk["seconds"]:
            index = int(item["second"])
            second = self._seconds.get(index)
            if second is None:
                second = self._seconds[index] = Second(
                    service=None if item["service"] is None else new_histogram()
                )
            second.latency.add(_decode(item["latency"]))
            if item["service"] is not None:
                if second.service is None:
                    second.service = new_histogram()
                second.service.add(_decode(item["service"]))
            second.count += int(item["count"])
            second.errors.update({str(k): int(v) for k, v in item["errors"].items()})
            process.counts[index] += int(item["count"])
        process.cpu.extend((int(s), float(p)) for s, p in chunk["cpu"])
        self._unfinished.extend(float(waited) for waited in chunk.get("unfinished", []))

    def point(self, index: int, measured: bool = True) -> Point:
        second = self._seconds.get(index)
        if second is None or second.count == 0:
            return Point(index, measured, 0, 0, None, None, None)
        values = second.latency.get_percentile_to_value_dict([50.0, 99.0])
        return Point(
            second=index,
            measured=measured,
            requests=second.count,
            errors=sum(second.errors.values()),
            p50=_ms(values[50.0]),
            p99=_ms(values[99.0]),
            max=_ms(second.latency.get_max_value()),
        )

    def latest_cpu(self) -> dict[str, float]:
        """Each load process's most recent CPU sample."""
        return {name: p.cpu[-1][1] for name, p in self._processes.items() if p.cpu}

    def figures(self, warmup: int, duration: int) -> Figures:
        """Figures over seconds [warmup, warmup + duration); the timeline over the whole run."""
        window = range(warmup, warmup + duration)
        latency = new_histogram()
        service: HdrHistogram | None = None
        errors: Counter[str] = Counter()
        requests = 0
        for index in window:
            second = self._seconds.get(index)
            if second is None:
                continue
            latency.add(second.latency)
            if second.service is not None:
                service = service or new_histogram()
                service.add(second.service)
            errors.update(second.errors)
            requests += second.count
        error_count = sum(errors.values())
        return Figures(
            requests=requests,
            errors=dict(errors.most_common()),
            error_rate=error_count / requests if requests else 0.0,
            rps=requests / duration,
            latency=Percentiles.of(latency) if requests else None,
            service=Percentiles.of(service) if service is not None and requests else None,
            timeline=[self.point(i, i in window) for i in range(warmup + duration)],
            processes=[
                _load_process(name, process, window)
                for name, process in sorted(self._processes.items())
            ],
            unfinished=len(self._unfinished),
            unfinished_max_wait=max(self._unfinished) if self._unfinished else None,
        )


def _load_process(name: str, process: _Process, window: range) -> LoadProcess:
    samples = [percent for second, percent in process.cpu if second in window]
    samples = samples or [percent for _, percent in process.cpu]
    return LoadProcess(
        name=name,
        users=process.users,
        requests=sum(count for second, count in process.counts.items() if second in window),
        cpu_mean=round(sum(samples) / len(samples), 1) if samples else None,
        cpu_max=max(samples) if samples else None,
    )


def _encode(histogram: HdrHistogram) -> str:
    encoded = histogram.encode()
    return encoded.decode("ascii") if isinstance(encoded, bytes) else str(encoded)


def _decode(encoded: str) -> HdrHistogram:
    return HdrHistogram.decode(encoded.encode("ascii"))


def _ms(micros: int) -> float:
    return round(micros / 1000, 3)
