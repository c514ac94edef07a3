"""``rtnmf batch``: a preset over every recording of a folder, in parallel or on a Dask cluster."""

from __future__ import annotations

import sys
import time

from .. import defaults


def add_parser(commands) -> None:
    p = commands.add_parser(
        "batch", help="separate every recording of a folder, in parallel or on a Dask cluster",
        description="Run a preset over every file of INPUT_DIR that matches --pattern (or every file of --files), writing "
                    "OUTPUT_DIR with the same tree of folders and names. OUTPUT_DIR/rtnmf-batch.csv gets a row per input; "
                    "running the same command again skips what is done and processes the rest.")
    p.add_argument("--preset", required=True, metavar="NAME|FILE.yaml", help="preset name or file")
    p.add_argument("input_dir", metavar="INPUT_DIR", help="folder of the recordings (the base of --files' relative paths)")
    p.add_argument("-o", "--output", required=True, dest="output_dir", metavar="OUTPUT_DIR",
                   help="folder to write (created if missing); must not be INPUT_DIR")
    p.add_argument("--pattern", default=defaults.BATCH_PATTERN, metavar="GLOB",
                   help=f"inputs relative to INPUT_DIR; ** spans folders, matching is case-sensitive, hidden files are skipped "
                        f"(default {defaults.BATCH_PATTERN!r})")
    p.add_argument("--files", default=None, metavar="LIST|-",
                   help="take the inputs from a file (or standard input: -), one path per line, relative to INPUT_DIR or inside it")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--jobs", type=int, default=None, metavar="N",
                       help="worker processes on this machine (default: the usable cores; 1 runs in this process)")
    where.add_argument("--scheduler", default=None, metavar="tcp://HOST:8786",
                       help="run on the workers of this Dask scheduler instead (pip install 'realtime_nmf[cluster]'); "
                            "they need the same realtime_nmf version and the folders at the same paths")
    redo = p.add_mutually_exclusive_group()
    redo.add_argument("--overwrite", action="store_true", help="process every input again and replace existing outputs")
    redo.add_argument("--retry-failed", action="store_true", help="also process the inputs an earlier run recorded as error or crashed")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no line per failed file; only the summary")
    p.set_defaults(func=command)


def command(args) -> int:
    from tqdm import tqdm

    from ..batch import BatchRun
    from ..presets import load_preset

    preset = load_preset(args.preset)
    batch = BatchRun(preset, args.input_dir, args.output_dir, pattern=args.pattern, files=args.files, jobs=args.jobs,
                     scheduler=args.scheduler, overwrite=args.overwrite, retry_failed=args.retry_failed)
    total = batch.count()
    started = time.perf_counter()
    bar = tqdm(total=total, unit="file", desc="batch", leave=False, dynamic_ncols=True, disable=True if args.quiet else None,
               file=sys.stderr)
    state = {"audio": 0.0, "failed": 0}

    def on_row(row) -> None:
        if row.status == "ok":
            state["audio"] += float(row.duration or 0)
        elif row.status in ("error", "crashed"):
            state["failed"] += 1
            if not args.quiet:
                bar.write(f"{row.status}: {row.input}: {row.message}", file=sys.stderr)
        bar.update(1)
        elapsed = max(time.perf_counter() - started, 1e-9)
        bar.set_postfix_str(f"{state['audio'] / 3600 / elapsed:.2f} h audio/s, {state['failed']} failed", refresh=False)

    def on_note(text: str) -> None:
        bar.write(f"rtnmf: {text}", file=sys.stderr)

    try:
        summary = batch.run(on_row=on_row, on_note=on_note)
    finally:
        bar.close()
    print(summary.line(), file=sys.stderr if summary.interrupted else sys.stdout)
    return summary.exit_status
