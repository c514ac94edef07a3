"""``rtnmf run`` (live audio or a file through a preset's chain) and ``rtnmf devices``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import defaults
from .._threads import blas_threads
from ..errors import ExitCode, RealtimeNMFError, exit_code_table
from .common import exit_now, progress_bar


def add_parsers(commands) -> None:
    p = commands.add_parser("run", help="separate live audio or a file through the streaming engine",
                            description="Run a preset's chain live (microphone to speakers, by default) or over a file, block by block.",
                            epilog="exit status:\n" + exit_code_table(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", required=True, action="append", metavar="NAME|FILE.yaml",
                   help="preset name or file; repeat to switch between presets live with the n/p keys")
    p.add_argument("--input", default=None, metavar="FILE|mic", help="audio file to separate, or 'mic' (default: the microphone)")
    p.add_argument("--output", default=None, metavar="FILE",
                   help="audio file to write (default: the speakers); with --input FILE: same rate, channels and length as the input")
    p.add_argument("--block-size", type=int, default=None, metavar="N",
                   help=f"samples per block (live default 0: the audio host chooses; file default {defaults.BLOCK_SIZE}; "
                        "the output does not depend on it)")
    p.add_argument("--input-device", default=None, metavar="INDEX|NAME", help="live: input device, by index or part of its name (see rtnmf devices)")
    p.add_argument("--output-device", default=None, metavar="INDEX|NAME", help="live: output device, by index or part of its name")
    p.add_argument("--record", default=None, metavar="FILE", help="live: also write the separated output to FILE")
    p.add_argument("--record-input", default=None, metavar="FILE", help="live: also write the raw input to FILE")
    p.add_argument("--duration", type=float, default=None, metavar="S", help="live: stop after S seconds (default: until Ctrl-C or q)")
    p.add_argument("--latency", default="low", metavar="low|high|SECONDS", help="live: PortAudio latency setting (default low)")
    p.add_argument("--input-channels", default=None, metavar="LIST",
                   help="live: input channels to separate, counted from 1, e.g. 1 (a mono stethoscope on a 2-in interface) or 1,2 "
                        "(default: the first two); with --input FILE, the file's channels")
    p.add_argument("--output-channels", default=None, metavar="LIST",
                   help="live: speaker channels to play on, counted from 1 (default: the first two); a mono input plays on all of them")
    p.add_argument("--allow-feedback", action="store_true",
                   help="live: allow microphone to speakers (use headphones: a microphone near speakers feeds back)")
    p.add_argument("--quiet", action="store_true", help="live: no status line")
    p.set_defaults(func=command)

    p = commands.add_parser("devices", help="list audio input and output devices", description="List audio devices; the defaults are marked.")
    p.set_defaults(func=command_devices)


def _is_microphone(value) -> bool:
    return value is None or value == "mic"


def command(args) -> int:
    from .._atomic import check_distinct_paths
    from ..presets import load_preset

    with blas_threads(1):  # one BLAS thread: the audio callback must not wait for helper threads (see realtime_nmf._threads)
        presets = [load_preset(name) for name in args.preset]
        inputs = {"--input": None if _is_microphone(args.input) else args.input}
        for preset in presets:
            inputs[f"--preset {preset.name}"] = preset.path
            inputs[f"the dictionary of --preset {preset.name}"] = preset.dictionary_path
        check_distinct_paths({"--output": args.output, "--record": args.record, "--record-input": args.record_input}, inputs)
        if not _is_microphone(args.input) and args.output is not None:
            return _run_file(args, presets)
        return _run_live(args, presets)


def _run_file(args, presets) -> int:
    from ..audio import audio_info
    from ..offline import process_file

    preset = presets[0]
    if len(presets) > 1:
        print(f"note: file mode uses the first preset ({preset.name}); several presets are for switching live", file=sys.stderr)
    live_only = [flag for flag, value in (("--record", args.record), ("--record-input", args.record_input), ("--duration", args.duration),
                                          ("--input-device", args.input_device), ("--output-device", args.output_device),
                                          ("--input-channels", args.input_channels), ("--output-channels", args.output_channels),
                                          ("--allow-feedback", args.allow_feedback or None)) if value is not None]
    if live_only:
        raise RealtimeNMFError(f"{live_only[0]} is for live runs; with --input FILE and --output FILE the whole file is processed")
    chain = preset.build()
    rate = preset.sample_rate
    info = audio_info(args.input)
    if info.sample_rate != rate:
        print(f"note: {args.input} is at {info.sample_rate} Hz; resampling to the dictionary's {rate} Hz for processing "
              f"and back to {info.sample_rate} Hz for the output", file=sys.stderr)
    block_size = defaults.BLOCK_SIZE if args.block_size is None else args.block_size
    with progress_bar(info.n_samples if info.length_known else None, "samples", "separating") as bar:
        stats = process_file(chain, args.input, args.output, processing_rate=rate, block_size=block_size,
                             progress=lambda done, total: bar.update(done - bar.n))
    seconds = stats.samples_written / stats.input_rate
    if stats.interrupted:
        left = f"{stats.target_path} was left as it was" if Path(stats.target_path).exists() else f"nothing was written to {stats.target_path}"
        held = (f"{stats.output_path} holds the first {seconds:.1f} s of {info.duration:.1f} s" if stats.output_path
                else "nothing was processed yet")
        print(f"interrupted: {held}; {left}", file=sys.stderr)
        return ExitCode.INTERRUPTED
    print(f"wrote {stats.output_path}: {seconds:.2f} s, {stats.n_channels} channel(s) at {stats.input_rate} Hz, "
          f"{stats.realtime_factor:.0f}x real time, latency compensated ({chain.latency} samples = "
          f"{1000 * chain.latency / rate:.1f} ms at {rate} Hz)")
    if stats.shortfall:
        print(f"warning: {stats.shortfall}; {stats.output_path} holds the {seconds:.2f} s it had", file=sys.stderr)
    silenced = _silenced(chain)
    if silenced:
        print(f"warning: {silenced}", file=sys.stderr)
    if stats.clipped_samples:
        print(f"warning: {stats.clipped_samples} output samples exceeded full scale and were clipped; "
              "write a .wav with float samples or lower the level with a gain processor", file=sys.stderr)
    return 0


def _silenced(chain) -> str:
    """What the chain's processors treated as silence (NaN, Inf, absurdly loud input), as a sentence; "" if nothing."""
    frames = sum(getattr(p, "nonfinite_frames", 0) for p in chain)  # the separator counts frames
    samples = sum(getattr(p, "nonfinite_samples", 0) for p in chain if not hasattr(p, "nonfinite_frames"))  # filters, gain
    parts = []
    if frames:
        parts.append(f"{frames} frames held NaN or infinite samples")
    if samples:
        parts.append(f"{'and ' if frames else ''}{samples} {'more ' if frames else ''}sample{'s were' if samples > 1 else ' was'} NaN or infinite")
    if not parts:
        return ""
    return ", ".join(parts) + ("; it was replaced by silence" if not frames and samples == 1 else "; they were replaced by silence")


def _parse_latency(value: str):
    if value in ("low", "high"):
        return value
    try:
        seconds = float(value)
    except ValueError:
        raise RealtimeNMFError(f"--latency {value!r} must be low, high or a number of seconds such as 0.02") from None
    if not 0 < seconds < 10:
        raise RealtimeNMFError(f"--latency {value!r} must be between 0 and 10 seconds")
    return seconds


def _run_live(args, presets) -> int:
    from ..live import LiveOptions, run_live
    from ..live.devices import parse_channels, release

    if args.duration is not None and not args.duration > 0:
        raise RealtimeNMFError(f"--duration {args.duration} must be a positive number of seconds")
    if args.block_size is not None and args.block_size < 0:
        raise RealtimeNMFError(f"--block-size {args.block_size} must be 0 (let the audio host choose) or a positive number of samples")
    options = LiveOptions(
        input_channels=parse_channels(args.input_channels, "--input-channels"),
        output_channels=parse_channels(args.output_channels, "--output-channels"),
        allow_feedback=args.allow_feedback,
        input_device=args.input_device,
        output_device=args.output_device,
        input_file=None if _is_microphone(args.input) else args.input,
        output_file=args.output,
        record=args.record,
        record_input=args.record_input,
        duration=args.duration,
        block_size=args.block_size or 0,
        latency=_parse_latency(args.latency),
        quiet=args.quiet,
    )
    summary = run_live(presets, options)
    print(summary.text())
    for problem in summary.problems():
        print(f"rtnmf: error: {problem}", file=sys.stderr)
    # Every file is finalised and the summary printed: end now. After a lost device PortAudio would hang the
    # interpreter's exit; otherwise it is let go (bounded) and the slow teardown of the interpreter is skipped.
    if summary.released and not summary.device_lost:
        release()
    exit_now(summary.exit_code)
    return summary.exit_code  # not reached


def command_devices(args) -> int:
    from ..live import device_table

    table = device_table()
    if table.startswith("no audio devices found"):
        raise RealtimeNMFError(table)  # nothing to choose from: say so on stderr and exit non-zero, like rtnmf run does
    print(table)
    return 0
