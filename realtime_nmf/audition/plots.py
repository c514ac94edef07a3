"""Pictures for the audition page: one sheet per component, one per signal, one of the whole dictionary.

matplotlib is imported inside the functions (``import realtime_nmf`` stays light) and
used through its object API with the Agg renderer: no pyplot, no global state, no
window. Every picture is written atomically as PNG.

Frequency axes are logarithmic with ticks in Hz (low sounds such as heart sounds, at
20-200 Hz, would be a thin strip at the bottom of a linear axis); spectrograms are in dB
on one scale shared by every picture of a clip, so loud and quiet components compare
at a glance.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._atomic import atomic_write

__all__ = ["PlotScale", "ComponentSheet", "SignalSheet", "overview_sheet"]

#: Dynamic range shown by spectrograms, in dB below the clip's loudest bin.
DB_RANGE = 80.0
#: Spectrograms wider than this many frames are max-pooled in time for drawing.
MAX_DRAWN_FRAMES = 1200
DPI = 100
_FREQUENCY_TICKS = (10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000)
_SPECTROGRAM_COLORS = "magma"


@dataclass(frozen=True)
class PlotScale:
    """Axes shared by every picture of one clip.

    Attributes
    ----------
    frequencies : np.ndarray [shape=(n_bins,)]
        Centre frequency of each bin in Hz.
    times : np.ndarray [shape=(n_frames,)]
        Centre time of each frame in seconds.
    db_max : float
        Level (dB) shown at the top of the colour scale: the clip's loudest bin.
    duration : float
        Length of the clip in seconds.
    """

    frequencies: np.ndarray
    times: np.ndarray
    db_max: float
    duration: float

    @classmethod
    def for_clip(cls, S: np.ndarray, *, sample_rate: int, n_fft: int, hop_length: int, n_samples: int) -> "PlotScale":
        """Scale for a clip whose magnitude spectrogram is ``S`` [shape=(n_bins, n_frames)]."""
        n_bins, n_frames = S.shape
        frequencies = np.arange(n_bins) * sample_rate / n_fft
        times = ((np.arange(n_frames) + 1) * hop_length - n_fft / 2) / sample_rate
        return cls(frequencies, np.clip(times, 0.0, None), float(_db(np.max(S))), n_samples / sample_rate)


def _db(S) -> np.ndarray:
    return 20.0 * np.log10(np.maximum(np.asarray(S, dtype=np.float64), 1e-10))


def _new_figure(width: float, height: float, *, layout: str | None = None):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout=layout)


def _save(fig, path: Path) -> Path:
    with atomic_write(path) as handle:
        fig.savefig(handle, format="png", dpi=DPI, pil_kwargs={"compress_level": 1})  # fast; files ~3 % larger than the default
    return path


def _log_frequency_axis(ax, scale: PlotScale) -> None:
    """Logarithmic frequency axis (y) from the first bin above 0 Hz to Nyquist, ticks in Hz."""
    from matplotlib.ticker import FixedLocator, NullLocator

    low, high = scale.frequencies[1], scale.frequencies[-1]
    ticks = [f for f in _FREQUENCY_TICKS if low <= f <= high]
    ax.set_yscale("log")
    ax.set_ylim(low, high)
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_ticklabels([f"{f // 1000}k" if f >= 1000 else str(f) for f in ticks])
    ax.yaxis.set_minor_locator(NullLocator())
    ax.set_ylabel("frequency (Hz)")


def _pool_frames(values: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Max-pool the last axis so at most :data:`MAX_DRAWN_FRAMES` columns are drawn."""
    n = values.shape[-1]
    factor = int(np.ceil(n / MAX_DRAWN_FRAMES))
    if factor <= 1:
        return values, times
    usable = n // factor * factor
    pooled = values[..., :usable].reshape(*values.shape[:-1], usable // factor, factor).max(axis=-1)
    return pooled, times[:usable].reshape(-1, factor).mean(axis=1)


class _Spectrogram:
    """A spectrogram panel in dB re the clip's loudest bin on a log-frequency axis, with its colour bar."""

    def __init__(self, fig, ax, cax, scale: PlotScale):
        self.scale = scale
        empty, self.times = _pool_frames(np.zeros((scale.frequencies.size - 1, scale.times.size)), scale.times)
        self.mesh = ax.pcolormesh(self.times, scale.frequencies[1:], empty, shading="nearest", cmap=_SPECTROGRAM_COLORS,
                                  vmin=-DB_RANGE, vmax=0.0)
        _log_frequency_axis(ax, scale)
        ax.set_xlim(0.0, scale.duration)
        ax.set_xlabel("time (s)")
        fig.colorbar(self.mesh, cax=cax).set_label("level (dB re the clip's loudest bin)")

    def show(self, S: np.ndarray) -> None:
        """Draw the magnitude spectrogram ``S`` [shape=(n_bins, n_frames)]."""
        pooled, _ = _pool_frames(np.asarray(S)[1:], self.scale.times)
        self.mesh.set_array(_db(pooled) - self.scale.db_max)


class ComponentSheet:
    """Picture of one component: template, activation over time and spectrogram, on aligned axes.

    The template (left) shares the spectrogram's log-frequency axis; the activation (top)
    shares its time axis; a few lines of text (top left) name the component. The figure
    is built once per clip and redrawn for each component (matplotlib spends most of
    its time building axes and ticks, not drawing data).

    Parameters
    ----------
    scale : PlotScale
    """

    def __init__(self, scale: PlotScale):
        self.scale = scale
        fig = self.fig = _new_figure(11.0, 5.0)
        left, width, bar = 0.235, 0.665, 0.012
        bottom, height = 0.11, 0.5
        ax_s = fig.add_axes((left, bottom, width, height))
        ax_w = fig.add_axes((0.065, bottom, 0.14, height), sharey=ax_s)
        ax_h = self.ax_h = fig.add_axes((left, bottom + height + 0.085, width, 0.2), sharex=ax_s)
        self.spectrogram = _Spectrogram(fig, ax_s, fig.add_axes((left + width + 0.012, bottom, bar, height)), scale)
        ax_s.set_title("spectrogram of the component", fontsize="medium", loc="left")
        ax_s.tick_params(labelleft=False)
        ax_s.set_ylabel("")

        frequencies = scale.frequencies[1:]
        self.template_line, = ax_w.plot(np.zeros_like(frequencies), frequencies, color="tab:blue", linewidth=1.2)
        self.template_fill = None
        self.centroid_line = ax_w.axhline(scale.frequencies[1], color="tab:red", linestyle="--", linewidth=1.0)
        ax_w.set_xlim(0.0, 1.05)
        ax_w.set_xlabel("relative magnitude")
        ax_w.set_title("template", fontsize="medium", loc="left")
        ax_w.grid(True, which="major", alpha=0.3)
        self.ax_w = ax_w

        self.activation_line, = ax_h.plot(self.spectrogram.times, np.zeros_like(self.spectrogram.times), color="tab:green",
                                          linewidth=0.8)
        ax_h.set_ylabel("activation")
        ax_h.set_title("activation over time", fontsize="medium", loc="left")
        ax_h.tick_params(labelbottom=False)
        ax_h.grid(True, alpha=0.3)

        self.title = fig.text(0.008, 0.965, "", fontsize="large", fontweight="bold", va="top", ha="left")
        self.notes = fig.text(0.008, 0.9, "", fontsize="small", va="top", ha="left", linespacing=1.6)

    def save(self, path: str | Path, *, template: np.ndarray, activation: np.ndarray, S: np.ndarray, title: str,
             notes: str = "", centroid: float | None = None) -> Path:
        """Draw one component and write the picture.

        Parameters
        ----------
        path : str or Path
            PNG file to write.
        template : np.ndarray [shape=(n_bins,)]
            The component's column of ``W``.
        activation : np.ndarray [shape=(n_frames,)]
            The component's row of ``H`` on this clip.
        S : np.ndarray [shape=(n_bins, n_frames)]
            Magnitude spectrogram of the component's signal.
        title : str
            Component name (bold, top left).
        notes : str
            A few short lines under the title (features).
        centroid : float, optional
            Spectral centroid (Hz), a red dashed line on the template (say so in ``notes``).

        Returns
        -------
        Path
        """
        relative = np.asarray(template[1:], dtype=np.float64) / (float(np.max(template)) or 1.0)
        self.template_line.set_xdata(relative)
        if self.template_fill is not None:
            self.template_fill.remove()
        self.template_fill = self.ax_w.fill_betweenx(self.scale.frequencies[1:], 0.0, relative, color="tab:blue", alpha=0.35,
                                                     linewidth=0)
        visible = centroid is not None and bool(np.isfinite(centroid))
        self.centroid_line.set_visible(visible)
        if visible:
            self.centroid_line.set_ydata([centroid, centroid])
        values, _ = _pool_frames(np.asarray(activation, dtype=np.float64), self.scale.times)
        self.activation_line.set_ydata(values)
        self.ax_h.set_ylim(0.0, max(float(values.max()), 1e-12) * 1.08)
        self.spectrogram.show(S)
        self.title.set_text(title)
        self.notes.set_text(notes)
        return _save(self.fig, Path(path))


class SignalSheet:
    """Spectrogram of a whole signal (the clip, the residual) on the clip's shared scale.

    Parameters
    ----------
    scale : PlotScale
    """

    def __init__(self, scale: PlotScale):
        fig = self.fig = _new_figure(11.0, 3.2)
        left, width, bottom, height = 0.065, 0.81, 0.15, 0.75
        self.ax = fig.add_axes((left, bottom, width, height))
        self.spectrogram = _Spectrogram(fig, self.ax, fig.add_axes((left + width + 0.012, bottom, 0.012, height)), scale)

    def save(self, path: str | Path, *, S: np.ndarray, title: str) -> Path:
        """Draw the magnitude spectrogram ``S`` [shape=(n_bins, n_frames)] and write the picture."""
        self.spectrogram.show(S)
        self.ax.set_title(title, fontsize="medium", loc="left")
        return _save(self.fig, Path(path))


def overview_sheet(path: str | Path, *, W: np.ndarray, H: np.ndarray, scale: PlotScale, names: list[str], title: str) -> Path:
    """The whole dictionary on one sheet: every template (left) and every activation on the clip (right).

    Parameters
    ----------
    path : str or Path
    W : np.ndarray [shape=(n_bins, n_components)]
    H : np.ndarray [shape=(n_components, n_frames)]
    scale : PlotScale
    names : list of str
        One name per component (index and label), used as tick labels.
    title : str
    """
    K = W.shape[1]
    fig = _new_figure(12.0, float(np.clip(2.2 + 0.28 * K, 4.5, 40.0)), layout="constrained")
    grid = fig.add_gridspec(2, 2, width_ratios=[max(2.0, 0.22 * K + 1.0), 6.0], height_ratios=[1.0, 0.035])
    fig.suptitle(title, fontsize="large")
    step = max(1, int(np.ceil(K / 40)))
    shown = np.arange(0, K, step)

    ax_w = fig.add_subplot(grid[0, 0])
    templates = _db(W[1:] / np.maximum(W.max(axis=0, keepdims=True), 1e-30))
    mesh_w = ax_w.pcolormesh(np.arange(K), scale.frequencies[1:], templates, shading="nearest", cmap="viridis",
                             vmin=-60.0, vmax=0.0)
    _log_frequency_axis(ax_w, scale)
    ax_w.set_xticks(shown, [str(k) for k in shown], rotation=90 if K > 20 else 0)
    ax_w.set_xlabel("component")
    ax_w.set_title("templates", fontsize="medium", loc="left")
    bar = fig.colorbar(mesh_w, cax=fig.add_subplot(grid[1, 0]), orientation="horizontal")
    bar.set_label("template level (dB below its peak)")

    ax_h = fig.add_subplot(grid[0, 1])
    values, times = _pool_frames(np.asarray(H, dtype=np.float64), scale.times)
    values = values / np.maximum(values.max(axis=1, keepdims=True), 1e-30)
    mesh_h = ax_h.pcolormesh(times, np.arange(K), values, shading="nearest", cmap="Greys", vmin=0.0, vmax=1.0)
    ax_h.set_ylim(K - 0.5, -0.5)
    ax_h.set_yticks(shown, [names[k] for k in shown])
    ax_h.set_xlim(0.0, scale.duration)
    ax_h.set_xlabel("time (s)")
    ax_h.set_ylabel("component")
    ax_h.set_title("activations on the clip", fontsize="medium", loc="left")
    bar = fig.colorbar(mesh_h, cax=fig.add_subplot(grid[1, 1]), orientation="horizontal")
    bar.set_label("activation (each row scaled to its maximum)")
    return _save(fig, Path(path))
