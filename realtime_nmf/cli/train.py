"""``rtnmf train``: learn a dictionary from recordings."""

from __future__ import annotations

import shlex
from pathlib import Path

from .. import defaults
from .._atomic import check_new_file
from ..errors import RealtimeNMFError
from .._threads import blas_threads
from .common import add_force_flag, progress_bar, threads_argument


def add_parser(commands) -> None:
    p = commands.add_parser("train", help="learn a dictionary of spectral templates from recordings",
                            description="Learn a dictionary W by beta-divergence NMF of the clips' magnitude spectrograms.")
    p.add_argument("clips", nargs="*", metavar="CLIP",
                   help="audio files to learn from (mixed to mono); with --target, mixtures of target and background")
    p.add_argument("-o", "--output", required=True, metavar="DICT.npz", help="dictionary file to write")
    p.add_argument("--n-components", "--components", dest="n_components", type=int, default=defaults.N_COMPONENTS, metavar="K",
                   help=f"number of templates (default {defaults.N_COMPONENTS})")
    p.add_argument("--beta", type=float, default=defaults.BETA, metavar="B",
                   help=f"beta divergence: 2 Euclidean, 1 Kullback-Leibler, 0 Itakura-Saito, or any value >= 0 (default {defaults.BETA:g})")
    p.add_argument("--iterations", type=int, default=defaults.TRAIN_ITERATIONS, metavar="N",
                   help=f"maximum iterations (default {defaults.TRAIN_ITERATIONS})")
    p.add_argument("--tolerance", type=float, default=defaults.TRAIN_TOLERANCE, metavar="TOL",
                   help=f"stop when the divergence improves by less than this fraction per 10 iterations "
                        f"(default {defaults.TRAIN_TOLERANCE:g}; 0 = run all)")
    p.add_argument("--sample-rate", "--sr", dest="sample_rate", type=int, default=None, metavar="SR",
                   help="sample rate to learn at (default: the first clip's)")
    p.add_argument("--n-fft", type=int, default=None, metavar="N", help="FFT size (default: the power of two nearest 50 ms)")
    p.add_argument("--hop-length", type=int, default=None, metavar="H", help="hop between frames (default: n_fft / 4)")
    p.add_argument("--latency-ms", type=float, default=None, metavar="MS",
                   help="low latency: learn with asymmetric analysis/synthesis windows and the hop that makes the streaming "
                        "latency at most MS milliseconds (n_fft, the frequency resolution, is kept; latency = 2 * hop - 1 samples)")
    p.add_argument("--init", choices=("nndsvda", "random"), default=defaults.INIT, help=f"initialisation (default {defaults.INIT})")
    p.add_argument("--seed", type=int, default=defaults.SEED, metavar="S", help=f"random seed (default {defaults.SEED})")
    p.add_argument("--sparsity", type=float, default=defaults.SPARSITY, metavar="L1", help="L1 penalty on the activations (default 0)")
    p.add_argument("--threads", type=threads_argument, default=1, metavar="N",
                   help="BLAS threads (default 1; 0 = one per core, which is faster only on idle cores)")
    p.add_argument("--start", type=float, default=None, metavar="S", help="learn from S seconds into every file on (default: the start)")
    p.add_argument("--end", type=float, default=None, metavar="S", help="learn up to S seconds into every file (default: the end)")
    add_force_flag(p, "the dictionary file")
    g = p.add_argument_group("labelled training (supervised / semi-supervised NMF)",
                             "Learn target templates from target-only clips and background templates from background-only clips "
                             "and/or from the CLIPs (mixtures, target templates held fixed); components are labelled, so a "
                             "preset keeps the target by its label.")
    g.add_argument("--target", action="append", default=None, metavar="FILE", help="target-only clip, e.g. heart sounds (repeat for several)")
    g.add_argument("--background", action="append", default=None, metavar="FILE",
                   help="background-only clip, e.g. lung sounds (repeat for several)")
    g.add_argument("--target-components", type=int, default=None, metavar="K", help="target templates, out of --n-components (default: half)")
    g.add_argument("--target-label", default=None, metavar="LABEL", help=f"label of the target templates (default {defaults.TARGET_LABEL})")
    g.add_argument("--background-label", default=None, metavar="LABEL",
                   help=f"label of the background templates (default {defaults.BACKGROUND_LABEL})")
    p.set_defaults(func=command)


def command(args) -> int:
    from ..dictionary import check_dictionary_output
    from ..training import train_dictionary, train_labelled_dictionary

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
    check_dictionary_output(args.output)  # a bad -o fails now, not after the training
    check_new_file(args.output, force=args.force)  # nor an existing one
    options = dict(n_components=args.n_components, beta=args.beta, iterations=args.iterations, tolerance=args.tolerance,
                   n_fft=args.n_fft, hop_length=args.hop_length, latency_ms=args.latency_ms, init=args.init, seed=args.seed,
                   sparsity=args.sparsity, start=args.start, end=args.end)
    steps = 1 + (bool(args.background) + bool(args.clips) if labelled else 0)
    with blas_threads(args.threads), progress_bar(args.iterations * steps, "it", "training") as bar:
        def progress(iteration, divergence):
            bar.update(iteration - bar.n)
            bar.set_postfix(divergence=f"{divergence:.5g}")

        if labelled:
            labels = {key: value for key, value in (("target_label", args.target_label), ("background_label", args.background_label),
                                                    ("target_components", args.target_components)) if value is not None}
            dictionary = train_labelled_dictionary(args.target, background=args.background or (), mixtures=args.clips,
                                                   sample_rate=args.sample_rate, progress=progress, **labels, **options)
        else:
            dictionary = train_dictionary(args.clips, sample_rate=args.sample_rate, progress=progress, **options)
    path = dictionary.save(args.output)
    p = dictionary.provenance
    print(f"trained {dictionary.n_components} components on {p['duration_seconds']:.1f} s of audio "
          f"({p['n_frames']} frames, {dictionary.sample_rate} Hz, n_fft {dictionary.n_fft}, hop {dictionary.hop_length}, beta {dictionary.beta:g})")
    print(f"iterations {p['iterations']}{' (converged)' if p['converged'] else ''}, final divergence {p['divergence']:.6g} "
          f"({p['divergence_per_frame']:.6g} per frame)")
    print(f"latency {dictionary.latency_samples} samples = {1000 * dictionary.latency_samples / dictionary.sample_rate:.2f} ms "
          f"({dictionary.latency_reason})")
    print(f"wrote {path}")
    if labelled:
        counts = {label: dictionary.labels.count(label) for label in dict.fromkeys(dictionary.labels)}
        print(f"labels: {', '.join(f'{label} ({n} components)' for label, n in counts.items())} ({p['method']} training)")
        for stage in p["stages"]:
            print(f"  {stage['role']:10} {', '.join(stage['sources']) or '-'}: {stage['duration_seconds']:.1f} s, {stage['iterations']} iterations, "
                  f"divergence {stage['divergence']:.6g}")
    print(next_hint(args, path, dictionary))
    return 0


def _part(args) -> str:
    """The ``--start``/``--end`` flags as given, for a command that should use the same part of a file."""
    return "".join(f" {flag} {value:g}" for flag, value in (("--start", args.start), ("--end", args.end)) if value is not None)


def next_hint(args, path: Path, dictionary) -> str:
    """The next command, built from this training: audition the components on the clip, or try the labelled target."""
    d = shlex.quote(str(path))
    if not args.target:
        clip = args.clips[0]
        folder = path.with_name(f"{path.stem}_audition")
        return (f"next: hear and pick the components: rtnmf audition {d} {shlex.quote(clip)}{_part(args)} -o {shlex.quote(str(folder))}"
                "\n(with --reference FILE, a few seconds of the target alone, audition ranks and ticks the components that explain it)")
    label = dictionary.labels[0]
    lines = []
    if args.clips:
        clip = Path(args.clips[0])
        output = clip.with_name(f"{clip.stem}_{label}.wav")
        lines.append(f"next: hear the {label} components: rtnmf run --dictionary {d} --keep {shlex.quote(label)} "
                     f"--input {shlex.quote(str(clip))}{_part(args)} --output {shlex.quote(str(output))}")
    lines.append(f"{'then' if lines else 'next'}: rtnmf preset new {shlex.quote(label)} --dictionary {d} --keep {shlex.quote(label)}")
    return "\n".join(lines)
