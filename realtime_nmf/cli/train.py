"""``rtnmf train``: learn a dictionary from recordings, in memory (full batch) or out of core (``--online``)."""

from __future__ import annotations

import argparse
import math
import os
import re
import shlex
from pathlib import Path

from .. import defaults
from .._atomic import check_new_file
from .._threads import blas_threads
from ..errors import RealtimeNMFError
from .common import add_force_flag, progress_bar, threads_argument

#: Flags of online training -> their destinations.
ONLINE_FLAGS = {"--batch-frames": "batch_frames", "--passes": "passes", "--forget": "forget"}
_UNITS = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}


def memory_size(value: str):
    """``--max-memory``: a size such as ``200M``, ``1.5G``, ``500000000`` (bytes), or ``none``; in bytes (None: no limit)."""
    if value.strip().lower() in ("none", "off", "unlimited"):
        return None
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kKmMgGtT]?)(i?[bB])?\s*", value)
    if not match or float(match.group(1)) <= 0:
        raise RealtimeNMFError(f"--max-memory {value!r} is not a memory size: give a positive size like 200M, 1.5G or 4G (K, M, G, T = 1024-based), "
                                         "or 'none' for no limit")
    size = float(match.group(1)) * _UNITS[match.group(2).upper()]
    if not math.isfinite(size) or size >= 2 ** 63:
        raise RealtimeNMFError(f"--max-memory {value[:20]!r}{'...' if len(value) > 20 else ''} is larger than any machine's memory; "
                               "give a size like 4G, or 'none' for no limit")
    return int(size)


def memory_available() -> int | None:
    """Bytes this process may use at most: physical memory, the address-space limit (``ulimit -v``) and the
    cgroup's ``memory.max`` (a cluster job's limit), whichever is smallest; None when none can be told."""
    limits = []
    try:
        limits.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        pass
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY:
            limits.append(soft)
    except (ImportError, OSError, ValueError):  # pragma: no cover - not POSIX
        pass
    try:
        text = open("/sys/fs/cgroup/memory.max").read().strip()
        if text.isdigit():
            limits.append(int(text))
    except OSError:
        pass
    return min(limits) if limits else None


def default_max_memory() -> int | None:
    """The default ``--max-memory``: :data:`~realtime_nmf.defaults.TRAIN_MAX_MEMORY_FRACTION` of :func:`memory_available`."""
    available = memory_available()
    return None if available is None else int(available * defaults.TRAIN_MAX_MEMORY_FRACTION)


def show_bytes(n: float) -> str:
    """``n`` bytes in the largest 1024-based unit that keeps at least 1 (``1.2 GB``)."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1024
    raise AssertionError  # pragma: no cover


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
    o = p.add_argument_group("online (out-of-core) training",
                             "Learn from mini-batches of frames read from the files, so memory stays flat however long the "
                             "recordings are (online multiplicative updates with forgotten statistics); --iterations and "
                             "--tolerance are for full-batch training.")
    o.add_argument("--online", action="store_true", help="train online even when the spectrogram would fit in --max-memory")
    o.add_argument("--max-memory", default=argparse.SUPPRESS, metavar="SIZE",
                   help="train online, saying so, when full-batch training would need more than SIZE (e.g. 500M, 4G; 'none': never; "
                        f"default: {defaults.TRAIN_MAX_MEMORY_FRACTION:g} of the memory this process may use)")
    o.add_argument("--batch-frames", type=int, default=None, metavar="N",
                   help=f"frames per mini-batch at most (default {defaults.ONLINE_BATCH_FRAMES})")
    o.add_argument("--passes", type=int, default=None, metavar="N", help=f"shuffled passes over the frames (default {defaults.ONLINE_PASSES})")
    o.add_argument("--forget", type=float, default=None, metavar="F",
                   help=f"weight the statistics keep per mini-batch, from 0 (only the last) to 1 (all) (default {defaults.ONLINE_FORGET:g})")
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


def _online_choice(args, clips: list) -> str | None:
    """Why this run trains online (a line to print), or None for full batch; checks the online flags."""
    from ..online_training import full_batch_memory
    from ..training import resolve_stft_settings

    given = [flag for flag, dest in ONLINE_FLAGS.items() if getattr(args, dest) is not None]
    limit = getattr(args, "max_memory", "default")
    limit = limit if limit == "default" else memory_size(limit)
    if given and not args.online and limit in ("default", None):
        raise RealtimeNMFError(f"{given[0]} is for online training; add --online (or --max-memory SIZE to train online only when needed)")
    if args.online:
        if limit not in ("default", None):
            raise RealtimeNMFError("give --online (always online) or --max-memory SIZE (online when full batch needs more), not both")
        return "training online (--online)"
    limit = default_max_memory() if limit == "default" else limit
    if limit is None:
        return None
    from ..audio import audio_info

    from ..training import _check_number

    # checked as full-batch training checks it, before the estimate uses it
    sample_rate = audio_info(clips[0]).sample_rate if args.sample_rate is None else _check_number("sample_rate", args.sample_rate, 1)
    n_fft, hop_length, _ = resolve_stft_settings(sample_rate, args.n_fft, args.hop_length, defaults.WINDOW, args.latency_ms)
    groups = [args.target, args.background, args.clips] if args.target else [args.clips]
    need = max(full_batch_memory(group, sample_rate, n_fft, hop_length, start=args.start, end=args.end) for group in groups if group)
    if need <= limit:
        return None
    return (f"full-batch training would need about {show_bytes(need)}, more than --max-memory {show_bytes(limit)}: training online "
            "(set --max-memory higher to train in memory)")


def _online_options(args) -> dict:
    return {dest: getattr(args, dest) for dest in ONLINE_FLAGS.values() if getattr(args, dest) is not None}


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
    online = _online_choice(args, args.target if labelled else args.clips)
    if online:
        print(online, flush=True)
    options = dict(n_components=args.n_components, beta=args.beta, n_fft=args.n_fft, hop_length=args.hop_length,
                   latency_ms=args.latency_ms, init=args.init, seed=args.seed, sparsity=args.sparsity, start=args.start, end=args.end)
    labels = {key: value for key, value in (("target_label", args.target_label), ("background_label", args.background_label),
                                            ("target_components", args.target_components)) if value is not None}
    if online:
        from ..online_training import train_dictionary_online, train_labelled_dictionary_online

        with blas_threads(args.threads), progress_bar(None, "batch", "training online") as bar:
            def progress(done, total, divergence):
                bar.total = total
                bar.update(done - bar.n)
                bar.set_postfix(divergence=f"{divergence:.5g}")

            options.update(_online_options(args), progress=progress)
            if labelled:
                dictionary = train_labelled_dictionary_online(args.target, background=args.background or (), mixtures=args.clips,
                                                              sample_rate=args.sample_rate, **labels, **options)
            else:
                dictionary = train_dictionary_online(args.clips, sample_rate=args.sample_rate, **options)
        dictionary.provenance["online"]["reason"] = online
    else:
        options.update(iterations=args.iterations, tolerance=args.tolerance)
        steps = 1 + (bool(args.background) + bool(args.clips) if labelled else 0)
        with blas_threads(args.threads), progress_bar(args.iterations * steps, "it", "training") as bar:
            def progress(iteration, divergence):
                bar.update(iteration - bar.n)
                bar.set_postfix(divergence=f"{divergence:.5g}")

            if labelled:
                dictionary = train_labelled_dictionary(args.target, background=args.background or (), mixtures=args.clips,
                                                       sample_rate=args.sample_rate, progress=progress, **labels, **options)
            else:
                dictionary = train_dictionary(args.clips, sample_rate=args.sample_rate, progress=progress, **options)
    path = dictionary.save(args.output)
    _report(dictionary, path, labelled)
    print(next_hint(args, path, dictionary))
    return 0


def _report(dictionary, path, labelled: bool) -> None:
    p = dictionary.provenance
    print(f"trained {dictionary.n_components} components{' online' if 'online' in p else ''} on {p['duration_seconds']:.1f} s of audio "
          f"({p['n_frames']} frames, {dictionary.sample_rate} Hz, n_fft {dictionary.n_fft}, hop {dictionary.hop_length}, beta {dictionary.beta:g})")
    if "online" in p:
        o = p["online"]
        by_pass = o.get("divergence_per_frame_by_pass") or [p["divergence_per_frame"]]
        print(f"{o['mini_batches']} mini-batches of at most {o['batch_frames']} frames, {o['passes']} pass{'es' if o['passes'] != 1 else ''}, forget {o['forget']:g}; "
              f"divergence per frame by pass {', '.join(format(v, '.6g') for v in by_pass)}")
    else:
        print(f"iterations {p['iterations']}{' (converged)' if p['converged'] else ''}, final divergence {p['divergence']:.6g} "
              f"({p['divergence_per_frame']:.6g} per frame)")
    print(f"latency {dictionary.latency_samples} samples = {1000 * dictionary.latency_samples / dictionary.sample_rate:.2f} ms "
          f"({dictionary.latency_reason})")
    print(f"wrote {path}")
    if labelled:
        counts = {label: dictionary.labels.count(label) for label in dict.fromkeys(dictionary.labels)}
        print(f"labels: {', '.join(f'{label} ({n} components)' for label, n in counts.items())} ({p['method']} training)")
        for stage in p["stages"]:
            amount = f"{stage['mini_batches']} mini-batches" if "mini_batches" in stage else f"{stage['iterations']} iterations"
            print(f"  {stage['role']:10} {', '.join(stage['sources']) or '-'}: {stage['duration_seconds']:.1f} s, {amount}, "
                  f"divergence {stage['divergence']:.6g}")


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
