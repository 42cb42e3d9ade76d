"""CPU time and peak RSS of the processes under test, sampled with psutil."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import psutil


@dataclass
class ProcessSample:
    name: str
    pid: int
    cpu_seconds_start: float = 0.0
    cpu_seconds_end: float = 0.0
    peak_rss_bytes: int = 0
    rss_bytes_end: int = 0

    @property
    def cpu_seconds(self) -> float:
        return self.cpu_seconds_end - self.cpu_seconds_start

    def figures(self, wall_seconds: float) -> dict[str, float]:
        cpu = self.cpu_seconds
        return {
            "cpu_seconds": round(cpu, 2),
            "cpu_percent_of_one_core": round(100 * cpu / wall_seconds, 1) if wall_seconds else 0.0,
            "peak_rss_mb": round(self.peak_rss_bytes / 2**20, 1),
            "rss_mb_end": round(self.rss_bytes_end / 2**20, 1),
        }


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


@dataclass
class ProcessMonitor:
    """Samples RSS every `interval` seconds while a scenario runs; CPU is the difference of cumulative times."""

    pids: dict[str, int]
    interval: float = 0.25
    samples: dict[str, ProcessSample] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self._procs = {name: psutil.Process(pid) for name, pid in self.pids.items()}

    def start(self) -> None:
        self.samples = {}
        for name, proc in self._procs.items():
            self.samples[name] = ProcessSample(name, proc.pid, cpu_seconds_start=_cpu(proc),
                                               peak_rss_bytes=proc.memory_info().rss)
        self._task = asyncio.create_task(self._sample())

    async def _sample(self) -> None:
        while True:
            for name, proc in self._procs.items():
                try:
                    rss = proc.memory_info().rss
                except psutil.Error:
                    continue
                sample = self.samples[name]
                sample.peak_rss_bytes = max(sample.peak_rss_bytes, rss)
            await asyncio.sleep(self.interval)

    async def stop(self) -> dict[str, ProcessSample]:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for name, proc in self._procs.items():
            try:
                self.samples[name].cpu_seconds_end = _cpu(proc)
                self.samples[name].rss_bytes_end = proc.memory_info().rss
            except psutil.Error:
                pass
        return self.samples
