"""What a live run reports: the status while it runs and the summary at the end (data and text, no printing)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ExitCode

__all__ = ["LiveStatus", "LiveSummary", "RecordingResult"]


@dataclass
class LiveStatus:
    """One refresh of the status line (see :meth:`realtime_nmf.live.session.LiveSession.status`)."""

    seconds: float
    level_db: float  # input peak since the previous status, dBFS
    preset: str
    bypass: bool
    meters: list  # (component index, activation relative to the strongest kept one, 0..1) per kept component
    load_p50: float  # callback time / block duration over the last 200 blocks
    load_max: float
    xruns: int
    errors: int
    failed_recordings: int


@dataclass
class RecordingResult:
    """A recording as it was left: ``error`` is None when every sample that arrived was written."""

    label: str  # "recording", "input recording" or "output"
    path: Path
    seconds: float  # audio in the file
    error: str | None = None

    @property
    def kept(self) -> bool:
        return self.path.exists()

    def text(self) -> str:
        if self.error is None:
            return f"{self.label}: {self.path} ({self.seconds:.2f} s, finalised)"
        held = f"the file holds the first {self.seconds:.2f} s" if self.kept else "no file was left"
        return f"{self.label}: {self.path} (FAILED after {self.seconds:.2f} s: {self.error}; {held})"


@dataclass
class LiveSummary:
    """What a live run did; :meth:`text` is what ``rtnmf run`` prints at the end, :attr:`exit_code` its status."""

    seconds: float
    device_rate: int
    processing_rate: int
    block_size: int
    algorithmic_ms: float
    resampling_ms: float
    block_ms: float
    input_ms: float
    output_ms: float
    loads: np.ndarray
    durations_us: np.ndarray
    input_overflows: int
    output_underflows: int
    errors: int
    last_error: str
    underruns: int
    lost_blocks: int
    events: list = field(default_factory=list)
    engine_delay: float = 0.0  # device samples: algorithmic + resampling
    pace: float = float("nan")
    resampler: str = ""  # which streaming resampler ran, when the rates differ
    recordings: list = field(default_factory=list)  # RecordingResult
    end: str = "quit"  # "duration", "end of input", "quit", "interrupted", "device lost", "recording failed"
    device_lost: str | None = None  # why the device counts as lost ("no audio for 1.0 s")
    released: bool = True  # False: a PortAudio call never returned (the process must end with os._exit)

    @property
    def interrupted(self) -> bool:
        return self.end == "interrupted"

    @property
    def failed_recordings(self) -> list:
        return [r for r in self.recordings if r.error is not None]

    @property
    def exit_code(self) -> int:
        """:data:`ExitCode.RECORDING_FAILED`, else ``DEVICE_LOST``, else ``INTERRUPTED``, else ``OK``."""
        if self.failed_recordings:
            return ExitCode.RECORDING_FAILED
        if self.device_lost:
            return ExitCode.DEVICE_LOST
        if self.interrupted:
            return ExitCode.INTERRUPTED
        return ExitCode.OK

    @property
    def total_latency_ms(self) -> float:
        return self.algorithmic_ms + self.resampling_ms + self.block_ms + self.input_ms + self.output_ms

    def problems(self) -> list[str]:
        """One line per thing that went wrong (a lost device, a failed recording), for stderr."""
        lines = []
        if self.device_lost:
            held = ", ".join(f"{r.label} {r.path} holds {r.seconds:.1f} s" for r in self.recordings if r.kept)
            lines.append(f"audio device lost at {self.seconds:.1f} s ({self.device_lost})" + (f"; {held}" if held else ""))
        for r in self.failed_recordings:
            held = f"the file holds the first {r.seconds:.1f} s" if r.kept else "no file was left"
            lines.append(f"{r.label} {r.path} could not be written completely ({r.error}); {held}")
        return lines

    def text(self) -> str:
        p = (lambda a, q: float(np.percentile(a, q)) if a.size else float("nan"))
        how = f", {self.resampler}" if self.resampler else ""
        resampled = f", processing at {self.processing_rate} Hz (resampled in the stream{how})" if self.device_rate != self.processing_rate else ""
        block = f"blocks of {self.block_size}" if self.block_size else "blocks chosen by the host"
        ending = {"interrupted": " (stopped by Ctrl-C or a signal)", "device lost": " (the audio device was lost)",
                  "recording failed": " (stopped: the output could not be written)"}.get(self.end, "")
        lines = [
            f"live run: {self.seconds:.1f} s at {self.device_rate} Hz, {block}{resampled}, pace {self.pace:.3f}x real time{ending}",
            f"latency:  {self.total_latency_ms:.1f} ms = {self.algorithmic_ms:.1f} algorithmic (synthesis window) + {self.resampling_ms:.1f} resampling"
            f" + {self.block_ms:.1f} block + {self.input_ms:.1f} input + {self.output_ms:.1f} output (PortAudio); "
            f"the engine delays by {self.engine_delay:.1f} samples",
            f"callback: p50 {100 * p(self.loads, 50):.1f} %, p99 {100 * p(self.loads, 99):.1f} %, max {100 * (self.loads.max() if self.loads.size else 0):.1f} % "
            f"of the block duration ({p(self.durations_us, 50):.0f} / {p(self.durations_us, 99):.0f} / "
            f"{(self.durations_us.max() if self.durations_us.size else 0):.0f} us)",
            f"xruns:    {self.input_overflows} input overflows, {self.output_underflows} output underflows; "
            f"blocks lost: {self.lost_blocks}; engine errors: {self.errors}" + (f" (last: {self.last_error})" if self.errors else "")
            + (f"; resampler underruns: {self.underruns} samples" if self.underruns else ""),
        ]
        lines += [f"event:    {event}" for event in self.events]
        lines += [r.text() for r in self.recordings]
        return "\n".join(lines)
