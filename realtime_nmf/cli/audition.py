"""``rtnmf audition``: hear and see every component of a dictionary on a clip."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from .common import add_force_flag, progress_bar

#: Orders of the ``rtnmf audition`` table (the keys of :data:`realtime_nmf.audition.SORT_ORDERS`, and ``reference``).
AUDITION_ORDERS = ("index", "heartbeat", "energy", "centroid", "percussive", "reference")
#: What the audition can look for (the keys of :data:`realtime_nmf.audition.profiles.PROFILES`).
AUDITION_PROFILES = ("general", "heartbeat", "percussion")


def add_parser(commands) -> None:
    p = commands.add_parser("audition", help="hear and see every component of a dictionary on a clip, pick the ones to keep",
                            description="Separate CLIP into every component of DICT; write each component's audio and pictures, "
                                        "the residual, and DIR/index.html, a page to listen, mix the ticked components, compare "
                                        "and make a preset. With --reference, a few seconds of the target alone rank the "
                                        "components and tick the suggested ones.")
    p.add_argument("dictionary", metavar="DICT.npz", help="dictionary file")
    p.add_argument("clip", metavar="CLIP", help="audio file to audition (mixed to mono, resampled to the dictionary's rate)")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="folder for the files and index.html (created if missing)")
    p.add_argument("--reference", "--target-example", dest="reference", default=None, metavar="EXAMPLE.wav",
                   help="a short recording of the target alone (not aligned with CLIP): rank the components by how well they "
                        "explain it and tick the suggested ones")
    p.add_argument("--profile", choices=AUDITION_PROFILES, default="general",
                   help="what to look for: general (default: no target assumed), heartbeat (low, repeating at 40-200 per minute) "
                        "or percussion (sharp attacks): adds a score and marks the likely components")
    p.add_argument("--sort", choices=AUDITION_ORDERS, default=None,
                   help="order of the table printed (default: best match to the reference first with --reference, else dictionary order)")
    p.add_argument("--start", type=float, default=None, metavar="S", help="audition the clip from S seconds on")
    p.add_argument("--end", type=float, default=None, metavar="S", help="audition the clip up to S seconds")
    add_force_flag(p, "an earlier audition in DIR (files you put there are kept)")
    p.set_defaults(func=command)


def _part(args) -> str:
    return "".join(f" {flag} {value:g}" for flag, value in (("--start", args.start), ("--end", args.end)) if value is not None)


def command(args) -> int:
    from ..audition import audition
    from ..audition._folder import AuditionFolder
    from ..dictionary import Dictionary
    from ..errors import ParameterError

    if args.sort == "reference" and args.reference is None:
        raise ParameterError("--sort reference needs --reference EXAMPLE.wav, a recording of the target alone")
    AuditionFolder.check(args.output, replace=args.force)  # before any work: an earlier audition needs --force, the user's files are never touched
    dictionary = Dictionary.load(args.dictionary)
    with progress_bar(dictionary.n_components, "component", "auditioning") as bar:
        report = audition(dictionary, args.clip, args.output, dictionary_path=args.dictionary,
                          progress=lambda done, total: bar.update(done - bar.n), profile=args.profile, reference=args.reference,
                          start=args.start, end=args.end)
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    print(report.table(args.sort or ("reference" if args.reference else "index")))
    print(f"\nwrote {len(report.component_audio)} component files, the clip, the residual and their pictures to {report.folder}")
    if report.advice:
        print(f"\n{report.advice}")
    print(f"open {report.page.resolve().as_uri()}  (tick components and play them together there)")
    print(next_hint(args, report))
    return 0


def next_hint(args, report) -> str:
    """Hear the suggested components through the engine, then save them: commands built from this audition."""
    d = shlex.quote(str(report.dictionary_path))
    if not report.suggested:
        return "next: tick the components you want on the page; it shows the rtnmf run and rtnmf preset new commands for them"
    keep = ",".join(map(str, report.suggested))
    clip = Path(args.clip)
    why = "what the example suggests" if report.ranking is not None else f"the likely {report.profile.target}"
    name = report.profile.preset_name or (Path(args.reference).stem if args.reference else report.dictionary_path.stem)
    output = clip.with_name(f"{clip.stem}_{name}.wav")
    return (f"next: hear {why} ({keep}) through the streaming engine: rtnmf run --dictionary {d} --keep {keep} "
            f"--input {shlex.quote(str(clip))}{_part(args)} --output {shlex.quote(str(output))}\n"
            f"then keep them: rtnmf preset new {shlex.quote(name)} --dictionary {d} --keep {keep}")
