"""The ``rtnmf`` command: parses arguments and assembles the library's pieces, nothing more.

A user's mistake ends the program with one line ``rtnmf: error: ...`` and exit status 1
(2 for malformed arguments); Ctrl-C or SIGTERM ends it with status 130 after finalising
any output file; a lost audio device gives 3 and an output that could not be written
completely 4 (:class:`realtime_nmf.errors.ExitCode`, listed by ``rtnmf run --help``).
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import signal
import sys
from pathlib import Path

from . import __version__, defaults
from ._threads import blas_threads
from .errors import ExitCode, IncompleteOutputError, RealtimeNMFError, exit_code_table

__all__ = ["main", "build_parser"]

#: Orders of the ``rtnmf audition`` table (the keys of :data:`realtime_nmf.audition.SORT_ORDERS`).
AUDITION_ORDERS = ("index", "heartbeat", "energy", "centroid")


class _Interrupted(KeyboardInterrupt):
    """Raised by the SIGTERM handler so a termination finalises files like Ctrl-C does."""


def _on_sigterm(signum, frame):
    raise _Interrupted()


def _progress_bar(total: int, unit: str, description: str):
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=description, leave=False, disable=None, dynamic_ncols=True,
                unit_scale=unit == "samples")


# --------------------------------------------------------------------------------------
# commands


def cmd_train(args) -> int:
    from .training import train_dictionary, train_labelled_dictionary

    labelled = bool(args.target)
    if not labelled:
        if args.background:
            raise RealtimeNMFError("--background needs --target: give the target-only clips too (rtnmf train --target T --background B)")
        if not args.clips:
            raise RealtimeNMFError("give audio files to learn from (rtnmf train CLIP ... -o DICT.npz), "
                                   "or target and background examples (rtnmf train --target T --background B -o DICT.npz)")
        stray = [flag for flag, value in (("--target-components", args.target_components), ("--target-label", args.target_label),
                                           ("--background-label", args.background_label)) if value is not None]
        if stray:
            raise RealtimeNMFError(f"{stray[0]} is for labelled training; give --target FILE (and --background FILE) too")
    options = dict(n_components=args.components, beta=args.beta, n_iter=args.iterations, tol=args.tolerance, n_fft=args.n_fft,
                   hop_length=args.hop_length, init=args.init, seed=args.seed, sparsity=args.sparsity)
    steps = 1 + (bool(args.background) + bool(args.clips) if labelled else 0)
    with blas_threads(args.threads), _progress_bar(args.iterations * steps, "it", "training") as bar:
        def progress(iteration, divergence):
            bar.update(iteration - bar.n)
            bar.set_postfix(divergence=f"{divergence:.5g}")

        if labelled:
            labels = {key: value for key, value in (("target_label", args.target_label), ("background_label", args.background_label),
                                                    ("target_components", args.target_components)) if value is not None}
            dictionary = train_labelled_dictionary(args.target, background=args.background or (), mixtures=args.clips, sample_rate=args.sr,
                                                   progress=progress, **labels, **options)
        else:
            dictionary = train_dictionary(args.clips, sample_rate=args.sr, progress=progress, **options)
    path = dictionary.save(args.output)
    p = dictionary.provenance
    print(f"trained {dictionary.n_components} components on {p['duration_seconds']:.1f} s of audio "
          f"({p['n_frames']} frames, {dictionary.sample_rate} Hz, n_fft {dictionary.n_fft}, hop {dictionary.hop_length}, beta {dictionary.beta:g})")
    print(f"iterations {p['iterations']}{' (converged)' if p['converged'] else ''}, final divergence {p['divergence']:.6g} "
          f"({p['divergence_per_frame']:.6g} per frame)")
    print(f"wrote {path}")
    if labelled:
        target = dictionary.labels[0]
        counts = {label: dictionary.labels.count(label) for label in dict.fromkeys(dictionary.labels)}
        print(f"labels: {', '.join(f'{label} ({n} components)' for label, n in counts.items())} ({p['method']} training)")
        for stage in p["stages"]:
            print(f"  {stage['role']:10} {', '.join(stage['sources']) or '-'}: {stage['duration_seconds']:.1f} s, {stage['iterations']} iterations, "
                  f"divergence {stage['divergence']:.6g}")
        print(f"next: rtnmf preset new NAME --dictionary {path} --keep {target}")
    else:
        print(f"next: listen to the components, then: rtnmf preset new NAME --dictionary {path} --keep 0,3,5")
    return 0


def cmd_audition(args) -> int:
    from .audition import audition
    from .dictionary import Dictionary

    dictionary = Dictionary.load(args.dictionary)
    with _progress_bar(dictionary.n_components, "component", "auditioning") as bar:
        report = audition(dictionary, args.clip, args.output, dictionary_path=args.dictionary,
                          progress=lambda done, total: bar.update(done - bar.n))
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    print(report.table(args.sort))
    print(f"\nwrote {len(report.component_audio)} component files, the clip, the residual and their pictures to {report.folder}")
    print(f"open {report.page.resolve().as_uri()}")
    likely = [str(f.index) for f in report.features if f.heartbeat_mark == "likely"]
    print(f"then tick the components to keep on the page, or: rtnmf preset new NAME --dictionary {shlex.quote(str(report.dictionary_path))} "
          f"--keep {','.join(likely) or '0,3'}" + (" (the likely heartbeats)" if likely else ""))
    return 0


def cmd_preset_new(args) -> int:
    from .presets import new_preset

    settings = {key: value for key, value in (("mask", args.mask), ("mask_exponent", args.mask_exponent),
                                               ("iterations", args.iterations), ("tolerance", args.tolerance),
                                               ("sparsity", args.sparsity)) if value is not None}
    preset = new_preset(args.name, args.dictionary, args.keep, output=args.output, description=args.description or "",
                        settings=settings)
    d = preset.dictionary
    keep = preset.keep_indices
    print(f"wrote preset {preset.path} (keeps {len(keep)} of {d.n_components} components: {', '.join(map(str, keep))})")
    print(f"run it with: rtnmf run --preset {preset.name if args.output is None else preset.path} --input IN.wav --output OUT.wav")
    return 0


def cmd_presets(args) -> int:
    from .presets import bundled_preset_dir, list_presets, user_preset_dir

    entries = list_presets()
    if not entries:
        print("no presets found")
    width = max((len(e.name) for e in entries), default=4)
    for entry in entries:
        note = " (shadowed by the user preset)" if entry.shadowed else ""
        print(f"{entry.name:<{width}}  {entry.source:<7}  {entry.description or '-'}{note}")
    print(f"\nuser presets:    {user_preset_dir()}  (set RTNMF_PRESET_DIR to use another folder)")
    print(f"bundled presets: {bundled_preset_dir()}")
    return 0


def cmd_info(args) -> int:
    target = args.target
    if target.endswith(".npz"):
        from .dictionary import Dictionary

        dictionary = Dictionary.load(target)
        print(f"dictionary     {target}")
        print(dictionary.summary())
    else:
        from .presets import load_preset

        print(load_preset(target).summary())
    return 0


def _is_microphone(value) -> bool:
    return value is None or value == "mic"


def cmd_run(args) -> int:
    from ._atomic import check_distinct_paths
    from .presets import load_preset

    with blas_threads(1):  # one BLAS thread: the audio callback must not wait for helper threads (see _threads.py)
        presets = [load_preset(name) for name in args.preset]
        inputs = {"--input": None if _is_microphone(args.input) else args.input}
        for preset in presets:
            inputs[f"--preset {preset.name}"] = preset.path
            inputs[f"the dictionary of preset {preset.name}"] = preset.dictionary_path
        check_distinct_paths({"--output": args.output, "--record": args.record, "--record-input": args.record_input}, inputs)
        if not _is_microphone(args.input) and args.output is not None:
            return _run_file(args, presets)
        return _run_live(args, presets)


def _run_file(args, presets) -> int:
    from .audio import audio_info
    from .host import process_file

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
    with _progress_bar(info.n_samples, "samples", "separating") as bar:
        stats = process_file(chain, args.input, args.output, processing_rate=rate, block_size=block_size,
                             progress=lambda done, total: bar.update(done - bar.n))
    separator = next((p for p in chain if getattr(p, "name", "") == "nmf"), None)
    seconds = stats.samples_written / stats.input_rate
    if stats.interrupted:
        print(f"interrupted: {stats.output_path} holds the first {seconds:.1f} s of {info.duration:.1f} s", file=sys.stderr)
        return ExitCode.INTERRUPTED
    print(f"wrote {stats.output_path}: {seconds:.2f} s, {stats.n_channels} channel(s) at {stats.input_rate} Hz, "
          f"{stats.realtime_factor:.0f}x real time, latency compensated ({chain.latency} samples = "
          f"{1000 * chain.latency / rate:.1f} ms at {rate} Hz)")
    if separator is not None and separator.nonfinite_frames:
        print(f"warning: {separator.nonfinite_frames} frames held NaN or infinite samples; they were replaced by silence", file=sys.stderr)
    if stats.clipped_samples:
        print(f"warning: {stats.clipped_samples} output samples exceeded full scale and were clipped; "
              "write a .wav with float samples or lower the level with a gain processor", file=sys.stderr)
    return 0


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
    from .live import LiveOptions, run_live
    from .live_devices import parse_channels, release

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
    _exit_now(summary.exit_code)
    return summary.exit_code  # not reached


def _exit_now(status: int) -> None:
    """End the process at once (files are finalised), skipping the exit handlers a hung PortAudio would block."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(int(status))


def cmd_devices(args) -> int:
    from .live import device_table

    table = device_table()
    if table.startswith("no audio devices found"):
        raise RealtimeNMFError(table)  # nothing to choose from: say so on stderr and exit non-zero, like rtnmf run does
    print(table)
    return 0


def _parse_evaluation_latency(value: str):
    if value == "auto":
        return value
    try:
        samples = float(value)  # a live run prints its delay with a decimal ("3534.0 samples"): take it as printed
    except ValueError:
        samples = float("nan")
    if not math.isfinite(samples):
        raise RealtimeNMFError(f"--latency {value!r} must be a number of samples (e.g. 0, or the delay a live run printed) or auto")
    return int(round(samples))


def cmd_evaluate(args) -> int:
    from .evaluate import evaluate_files

    scores = evaluate_files(args.reference, args.estimate, mixture=args.mixture, latency=_parse_evaluation_latency(args.latency),
                            max_latency=args.max_latency)
    for note in scores.notes:
        print(f"note: {note}", file=sys.stderr)
    rate = scores.sample_rate
    shift = (f"the estimate moved back by {scores.delay} samples" if scores.delay >= 0
             else f"the reference moved back by {-scores.delay} samples")
    print(f"scored {scores.n_samples / rate:.2f} s at {rate} Hz ({shift}; BSS Eval v3 by fast_bss_eval, 512-tap distortion filter)")
    print(scores.text())
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo

    print("running the demo: synthesising a stethoscope recording, training, separating (no sound card needed)...")
    report = run_demo(args.output, block_size=args.block_size)
    print(report.text())
    print(f"\nlisten: {report.mixture_path} (input) and {report.output_path} (heartbeat only)")
    return 0


# --------------------------------------------------------------------------------------
# parser


def _threads_arg(value: str) -> int:
    try:
        threads = int(value)
    except ValueError:
        threads = -1
    if threads < 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of threads (1 or more, or 0 for one per core)")
    return threads


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rtnmf",
        description="Real-time audio source separation with NMF: train a dictionary, pick components, separate files or live audio.",
    )
    parser.add_argument("--version", action="version", version=f"realtime_nmf {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    p = commands.add_parser("train", help="learn a dictionary of spectral templates from recordings",
                            description="Learn a dictionary W by beta-divergence NMF of the clips' magnitude spectrograms.")
    p.add_argument("clips", nargs="*", metavar="CLIP",
                   help="audio files to learn from (mixed to mono); with --target, mixtures of target and background")
    p.add_argument("-o", "--output", required=True, metavar="DICT.npz", help="dictionary file to write")
    p.add_argument("--components", type=int, default=defaults.N_COMPONENTS, metavar="K", help=f"number of templates (default {defaults.N_COMPONENTS})")
    p.add_argument("--beta", type=float, default=defaults.BETA, metavar="B",
                   help=f"beta divergence: 2 Euclidean, 1 Kullback-Leibler, 0 Itakura-Saito, or any value >= 0 (default {defaults.BETA:g})")
    p.add_argument("--iterations", type=int, default=defaults.TRAIN_ITERATIONS, metavar="N", help=f"maximum iterations (default {defaults.TRAIN_ITERATIONS})")
    p.add_argument("--tolerance", type=float, default=defaults.TRAIN_TOLERANCE, metavar="TOL",
                   help=f"stop when the divergence improves by less than this fraction per 10 iterations (default {defaults.TRAIN_TOLERANCE:g}; 0 = run all)")
    p.add_argument("--sr", type=int, default=None, metavar="SR", help="sample rate to learn at (default: the first clip's)")
    p.add_argument("--n-fft", type=int, default=None, metavar="N", help="FFT size (default: the power of two nearest 50 ms)")
    p.add_argument("--hop-length", type=int, default=None, metavar="H", help="hop between frames (default: n_fft / 4)")
    p.add_argument("--init", choices=("nndsvda", "random"), default=defaults.INIT, help=f"initialisation (default {defaults.INIT})")
    p.add_argument("--seed", type=int, default=defaults.SEED, metavar="S", help=f"random seed (default {defaults.SEED})")
    p.add_argument("--sparsity", type=float, default=defaults.SPARSITY, metavar="L1", help="L1 penalty on the activations (default 0)")
    p.add_argument("--threads", type=_threads_arg, default=1, metavar="N",
                   help="BLAS threads (default 1; 0 = one per core, which is faster only on idle cores)")
    g = p.add_argument_group("labelled training (supervised / semi-supervised NMF)",
                             "Learn target templates from target-only clips and background templates from background-only clips "
                             "and/or from the CLIPs (mixtures, target templates held fixed); components are labelled, so a "
                             "preset keeps the target by its label.")
    g.add_argument("--target", action="append", default=None, metavar="FILE", help="target-only clip, e.g. heart sounds (repeat for several)")
    g.add_argument("--background", action="append", default=None, metavar="FILE", help="background-only clip, e.g. lung sounds (repeat for several)")
    g.add_argument("--target-components", type=int, default=None, metavar="K", help="target templates, out of --components (default: half)")
    g.add_argument("--target-label", default=None, metavar="LABEL", help=f"label of the target templates (default {defaults.TARGET_LABEL})")
    g.add_argument("--background-label", default=None, metavar="LABEL",
                   help=f"label of the background templates (default {defaults.BACKGROUND_LABEL})")
    p.set_defaults(func=cmd_train)

    p = commands.add_parser("audition", help="hear and see every component of a dictionary on a clip, pick the ones to keep",
                            description="Separate CLIP into every component of DICT; write each component's audio and pictures, "
                                        "the residual, and DIR/index.html, a page to listen, compare and make a preset.")
    p.add_argument("dictionary", metavar="DICT.npz", help="dictionary file")
    p.add_argument("clip", metavar="CLIP", help="audio file to audition (mixed to mono, resampled to the dictionary's rate)")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="folder for the files and index.html (created if missing)")
    p.add_argument("--sort", choices=AUDITION_ORDERS, default="index",
                   help="order of the table printed: dictionary index (default), most heartbeat-like, loudest or lowest centroid first")
    p.set_defaults(func=cmd_audition)

    p = commands.add_parser("preset", help="create presets", description="Create presets.")
    preset_commands = p.add_subparsers(dest="preset_command", metavar="SUBCOMMAND")
    preset_commands.required = True
    q = preset_commands.add_parser("new", help="save a preset: a dictionary and the components to keep",
                                   description="Save a preset. Without -o it goes to the user preset folder, with a copy of the dictionary.")
    q.add_argument("name", metavar="NAME", help="preset name (letters, digits, '_', '-', '.')")
    q.add_argument("--dictionary", required=True, metavar="DICT.npz", help="dictionary file")
    q.add_argument("--keep", required=True, metavar="SPEC", help="components to keep: indices, ranges and labels, e.g. 0,3,5 or 0-3 or heart or all")
    q.add_argument("-o", "--output", default=None, metavar="FILE.yaml", help="where to write the preset (default: the user preset folder)")
    q.add_argument("--description", default=None, help="one line describing the preset")
    q.add_argument("--mask", choices=("ratio", "binary"), default=None, help=f"mask type (default {defaults.MASK})")
    q.add_argument("--mask-exponent", type=float, default=None, metavar="A", help=f"ratio mask exponent (default {defaults.MASK_EXPONENT:g})")
    q.add_argument("--iterations", type=int, default=None, metavar="N", help=f"updates per frame (default {defaults.SOLVER_ITERATIONS})")
    q.add_argument("--tolerance", type=float, default=None, metavar="TOL", help=f"per-frame early stop (default {defaults.SOLVER_TOLERANCE:g})")
    q.add_argument("--sparsity", type=float, default=None, metavar="L1", help="L1 penalty on the activations (default 0)")
    q.set_defaults(func=cmd_preset_new)

    p = commands.add_parser("presets", help="list bundled and user presets", description="List the presets found by name.")
    p.set_defaults(func=cmd_presets)

    p = commands.add_parser("run", help="separate live audio or a file through the streaming engine",
                            description="Run a preset's chain live (microphone to speakers, by default) or over a file, block by block.",
                            epilog="exit status:\n" + exit_code_table(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", required=True, action="append", metavar="NAME|FILE.yaml",
                   help="preset name or file; repeat to switch between presets live with the n/p keys")
    p.add_argument("--input", default=None, metavar="FILE|mic", help="audio file to separate, or 'mic' (default: the microphone)")
    p.add_argument("--output", default=None, metavar="FILE",
                   help="audio file to write (default: the speakers); with --input FILE: same rate, channels and length as the input")
    p.add_argument("--block-size", type=int, default=None, metavar="N",
                   help=f"samples per block (live default 0: the audio host chooses; file default {defaults.BLOCK_SIZE}; the output does not depend on it)")
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
    p.set_defaults(func=cmd_run)

    p = commands.add_parser("devices", help="list audio input and output devices", description="List audio devices; the defaults are marked.")
    p.set_defaults(func=cmd_devices)

    p = commands.add_parser("info", help="describe a dictionary or a preset", description="Show what is inside a dictionary (.npz) or a preset (name or .yaml).")
    p.add_argument("target", metavar="DICT.npz|PRESET", help="dictionary file, preset name or preset file")
    p.set_defaults(func=cmd_info)

    p = commands.add_parser("evaluate", help="score a separated file against the true target: SDR, SI-SDR, SIR, SAR, improvements",
                            description="Score ESTIMATE against REFERENCE with BSS Eval (SDR, SIR, SAR) and SI-SDR. With the mixture, "
                                        "SIR and SAR are measured with mixture - reference as the interference, and the improvements "
                                        "over the mixture (SDRi, SI-SDRi) are printed. Files are mixed to mono and resampled to the "
                                        "reference's rate; lengths are cut to the shortest after alignment.")
    p.add_argument("--reference", required=True, metavar="REF.wav", help="the true target signal")
    p.add_argument("--estimate", required=True, metavar="EST.wav", help="the separated target")
    p.add_argument("--mixture", default=None, metavar="MIX.wav", help="what was separated, aligned with the reference")
    p.add_argument("--latency", default="0", metavar="SAMPLES|auto",
                   help="samples (at the estimate's rate) by which the estimate lags the reference: 0 (default) for the output of "
                        "rtnmf run --input FILE, the delay a live run printed for a live recording, or auto to find it by "
                        "cross-correlation with the mixture (else the reference)")
    p.add_argument("--max-latency", type=float, default=1.0, metavar="S", help="seconds searched by --latency auto (default 1)")
    p.set_defaults(func=cmd_evaluate)

    p = commands.add_parser("demo", help="run the whole workflow on a generated stethoscope recording",
                            description="Synthesise a stethoscope recording, train, save a preset, separate the heartbeat and print SDR, latency and speed.")
    p.add_argument("-o", "--output", default="rtnmf_demo", metavar="DIR", help="folder for the demo files (default ./rtnmf_demo)")
    p.add_argument("--block-size", type=int, default=defaults.BLOCK_SIZE, metavar="N", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rtnmf`` command. Returns the exit status.

    A live run does not return: once its recordings are finalised and its summary
    printed, the process ends with ``os._exit`` and the run's status (PortAudio may not
    let the interpreter exit after a lost device, and the run must end within a second of
    ``q`` or Ctrl-C whatever the device does).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if hasattr(signal, "SIGTERM") else None
    try:
        status = args.func(args)
    except IncompleteOutputError as exc:
        print(f"rtnmf: error: {exc}", file=sys.stderr)
        status = ExitCode.RECORDING_FAILED
    except RealtimeNMFError as exc:
        print(f"rtnmf: error: {exc}", file=sys.stderr)
        status = ExitCode.USER_ERROR
    except KeyboardInterrupt:
        print("rtnmf: interrupted; nothing half-written was left behind", file=sys.stderr)
        status = ExitCode.INTERRUPTED
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    live = sys.modules.get(f"{__package__}.live_devices")
    if live is not None and live.portaudio_stuck():
        _exit_now(status)  # a PortAudio call never returned (a hung sound server): a normal exit would wait for it
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
