"""``rtnmf run`` (live audio or a file through a preset's chain) and ``rtnmf devices``."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from .. import defaults
from .._atomic import check_new_file
from .._threads import blas_threads
from ..errors import ExitCode, RealtimeNMFError, exit_code_table
from ..processors.separator import SEPARATOR_PARAMETERS
from .common import add_force_flag, add_parameter_flags, exit_now, flag_of, given_parameters, progress_bar


def add_parsers(commands) -> None:
    p = commands.add_parser("run", help="separate live audio or a file through the streaming engine",
                            description="Run a preset's chain, or a dictionary with the components to keep, live (microphone to "
                                        "speakers, by default) or over a file, block by block. --keep and the separator settings "
                                        "override the preset's, so a selection can be heard before it is saved.",
                            epilog="exit status:\n" + exit_code_table(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", action="append", default=None, metavar="NAME|FILE.yaml",
                   help="preset name or file; repeat to switch between presets live with the n/p keys")
    p.add_argument("--dictionary", default=None, metavar="DICT.npz",
                   help="run a dictionary without a preset, keeping the components given with --keep")
    p.add_argument("--keep", default=None, metavar="SPEC",
                   help="components to keep instead of the preset's: indices, ranges and labels, e.g. 1,2 or 0-3 or heart")
    add_parameter_flags(p.add_argument_group("separator settings (override the preset's)"), SEPARATOR_PARAMETERS)
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
    p.add_argument("--start", type=float, default=None, metavar="S", help="file mode: begin S seconds into the input")
    p.add_argument("--end", type=float, default=None, metavar="S", help="file mode: stop S seconds into the input")
    add_force_flag(p, "the --output, --record and --record-input files")
    p.set_defaults(func=command)

    p = commands.add_parser("devices", help="list audio input and output devices", description="List audio devices; the defaults are marked.")
    p.set_defaults(func=command_devices)


def _is_microphone(value) -> bool:
    return value is None or value == "mic"


def _presets(args) -> list:
    """The presets to run: loaded by name or file, or made in memory for --dictionary; --keep and the settings applied."""
    from ..presets import load_preset
    from ..selections import preset_for_dictionary, with_changes

    settings = given_parameters(args, SEPARATOR_PARAMETERS)
    if args.dictionary is not None:
        if args.preset:
            raise RealtimeNMFError("give either --preset or --dictionary (with --keep), not both")
        if args.keep is None:
            raise RealtimeNMFError(f"--dictionary needs --keep SPEC, the components to hear (e.g. the ones rtnmf audition ticked): "
                                   f"rtnmf run --dictionary {shlex.quote(args.dictionary)} --keep SPEC ...")
        return [preset_for_dictionary(args.dictionary, args.keep, settings=settings)]
    if not args.preset:
        raise RealtimeNMFError("give a preset (--preset NAME, see rtnmf presets) or a dictionary and the components to keep "
                               "(--dictionary DICT.npz --keep SPEC)")
    if args.keep is not None and len(args.preset) > 1:
        raise RealtimeNMFError("--keep chooses the components of one preset's dictionary; give it with a single --preset")
    presets = [load_preset(name) for name in args.preset]
    if args.keep is not None or settings:
        presets = [with_changes(preset, keep=args.keep, settings=settings) for preset in presets]
    return presets


def save_hint(args, preset) -> str:
    """``next: rtnmf preset new ...`` saving what --dictionary, --keep or the settings flags made, or "" when nothing was changed.

    The command carries every setting of what ran that is not the default (a preset's
    own and the flags'), so the saved preset gives the same output.
    """
    from ..presets import user_preset_dir
    from ..selections import keep_text

    if args.dictionary is None and args.keep is None and not given_parameters(args, SEPARATOR_PARAMETERS):
        return ""
    keep = keep_text(preset.keep_indices)
    if preset.chain is not None:  # processors around the separator: preset new cannot write them, the file can
        return f"next: to keep this selection, write keep: [{keep.replace(',', ', ')}] into {preset.path}"
    name = preset.name
    replace = (user_preset_dir() / f"{name}.yaml").exists()
    flags = "".join(f" {flag_of(key)} {shlex.quote(str(value))}" for key, value in preset.settings.items()
                    if value != SEPARATOR_PARAMETERS[key].default)
    return (f"next: keep this selection as a preset: rtnmf preset new {shlex.quote(name)} --dictionary {shlex.quote(str(preset.dictionary_path))} "
            f"--keep {keep}{flags}" + (" --force" if replace else ""))


def command(args) -> int:
    from .._atomic import check_run_paths

    with blas_threads(1):  # one BLAS thread: the audio callback must not wait for helper threads (see realtime_nmf._threads)
        presets = _presets(args)
        check_run_paths(presets, None if _is_microphone(args.input) else args.input, output=args.output, record=args.record,
                        record_input=args.record_input)
        if not _is_microphone(args.input) and args.output is not None:
            return _run_file(args, presets)
        if args.start is not None or args.end is not None:
            raise RealtimeNMFError("--start and --end choose a part of --input FILE when separating it into --output FILE; "
                                   "a live run plays its input from the beginning")
        for path in (args.output, args.record, args.record_input):
            if path is not None:
                check_new_file(path, force=args.force)
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
    check_new_file(args.output, force=args.force)
    if info.sample_rate != rate:
        print(f"note: {args.input} is at {info.sample_rate} Hz; resampling to the dictionary's {rate} Hz for processing "
              f"and back to {info.sample_rate} Hz for the output", file=sys.stderr)
    block_size = defaults.BLOCK_SIZE if args.block_size is None else args.block_size
    with progress_bar(info.n_samples if info.length_known else None, "samples", "separating") as bar:
        stats = process_file(chain, args.input, args.output, processing_rate=rate, block_size=block_size,
                             progress=lambda done, total: bar.update(done - bar.n), start=args.start, end=args.end)
    seconds = stats.samples_written / stats.input_rate
    if stats.interrupted:
        left = f"{stats.target_path} was left as it was" if Path(stats.target_path).exists() else f"nothing was written to {stats.target_path}"
        held = (f"{stats.output_path} holds the first {seconds:.1f} s of {stats.n_samples / stats.input_rate:.1f} s" if stats.output_path
                else "nothing was processed yet")
        print(f"interrupted: {held}; {left}", file=sys.stderr)
        return ExitCode.INTERRUPTED
    part = (f" (from {args.start or 0:g} s to {(args.start or 0) + stats.n_samples / stats.input_rate:g} s of the input)"
            if args.start is not None or args.end is not None else "")
    print(f"wrote {stats.output_path}{part}: {seconds:.2f} s, {stats.n_channels} channel(s) at {stats.input_rate} Hz, "
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
    hint = save_hint(args, preset)
    if hint:
        print(hint)
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
