"""``rtnmf audition``: hear and see every component of a dictionary on a clip."""

from __future__ import annotations

import shlex
import sys

from .common import progress_bar

#: Orders of the ``rtnmf audition`` table (the keys of :data:`realtime_nmf.audition.SORT_ORDERS`).
AUDITION_ORDERS = ("index", "heartbeat", "energy", "centroid")


def add_parser(commands) -> None:
    p = commands.add_parser("audition", help="hear and see every component of a dictionary on a clip, pick the ones to keep",
                            description="Separate CLIP into every component of DICT; write each component's audio and pictures, "
                                        "the residual, and DIR/index.html, a page to listen, compare and make a preset.")
    p.add_argument("dictionary", metavar="DICT.npz", help="dictionary file")
    p.add_argument("clip", metavar="CLIP", help="audio file to audition (mixed to mono, resampled to the dictionary's rate)")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="folder for the files and index.html (created if missing)")
    p.add_argument("--sort", choices=AUDITION_ORDERS, default="index",
                   help="order of the table printed: dictionary index (default), most heartbeat-like, loudest or lowest centroid first")
    p.set_defaults(func=command)


def command(args) -> int:
    from ..audition import audition
    from ..dictionary import Dictionary

    dictionary = Dictionary.load(args.dictionary)
    with progress_bar(dictionary.n_components, "component", "auditioning") as bar:
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
