"""``python -m tools.benchmarks.quality``: run the methods on the cases, print the tables, write JSON or Markdown.

See :mod:`tools.benchmarks.quality` for what is measured.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tools.benchmarks.markdown import Report
from tools.benchmarks.quality import __doc__ as DOC
from tools.benchmarks.quality.cases import DATA, HLS_TRIPLES, QUICK_TRIPLES, load_cases, load_full_cases
from tools.benchmarks.quality.methods import DEFAULT_METHODS, METHODS, oracle_rows, run_case
from tools.benchmarks.quality.oracle_share import share_lines
from tools.benchmarks.quality.report import SUMMARY_END, method_markdown, method_result, method_table, oracle_markdown, oracle_table, summary_table, write_json


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.benchmarks.quality", description=DOC.splitlines()[0])
    parser.add_argument("--method", action="append", metavar="NAME", help=f"method to run (repeat; default: {', '.join(DEFAULT_METHODS)}); see --list")
    parser.add_argument("--all", action="store_true", help="run every method (about 13 minutes; 30 with --swapped on a busy 2-core machine)")
    parser.add_argument("--list", action="store_true", help="list the methods and exit")
    parser.add_argument("--quick", action="store_true", help=f"heart+lung {' and '.join(QUICK_TRIPLES)} only, no groove (a check, not a result)")
    parser.add_argument("--files", default=None, metavar="NNNN,...", help="heart+lung triples to run (default: all six, or all 29 with --full)")
    parser.add_argument("--no-groove", action="store_true", help="skip the FluidSynth groove")
    parser.add_argument("--full", action="store_true",
                        help="the 29 exact heart+lung triples of hls_cmds_full instead of the six (and no groove)")
    parser.add_argument("--swapped", action="store_true",
                        help="also the second fold: learn from the second half, score the first (to tell a real gain from noise)")
    parser.add_argument("--oracle", action="store_true", help="add the oracle context rows (ideal masks, oracle dictionaries)")
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder (default ../shared/data)")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write every number to FILE")
    parser.add_argument("--markdown", type=Path, default=None, metavar="FILE",
                        help="also write the tables to FILE as Markdown, with the command, machine and date (docs/generated/quality.md)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list:
        for method in METHODS.values():
            print(f"{method.name:14} {method.description}")
        return 0
    names = list(METHODS) if args.all else (args.method or list(DEFAULT_METHODS))
    unknown = [name for name in names if name not in METHODS]
    if unknown:
        parser.error(f"unknown method {unknown[0]!r}; known: {', '.join(METHODS)}")
    triples = QUICK_TRIPLES if args.quick else (tuple(args.files.split(",")) if args.files else HLS_TRIPLES)
    cases = (load_full_cases(args.data, args.files.split(",") if args.files else None) if args.full
             else load_cases(args.data, triples, groove=not (args.quick or args.no_groove)))
    if args.swapped:
        cases += [case.swap() for case in cases]
    if not cases:
        print(f"shared data not found at {args.data} (it lives outside the repository): nothing to benchmark")
        return 0
    markdown = Report("tools.benchmarks.quality", sys.argv[1:] if argv is None else argv, echo=False)
    results = []
    for name in names:
        started = time.perf_counter()
        result = method_result(METHODS[name], [run_case(METHODS[name], case) for case in cases])
        result["seconds"] = time.perf_counter() - started
        results.append(result)
        print(method_table(result) + "\n" + share_lines(result) + f"\n({result['seconds']:.0f} s)\n", flush=True)
        method_markdown(markdown, result)
    summary = summary_table(results)
    print(summary)
    oracle = oracle_rows(METHODS[names[0]], cases) if args.oracle else None
    if oracle:
        print("\n" + oracle_table(oracle))
    if args.json is not None:
        write_json(args.json, results, oracle)
    if args.markdown is not None:
        markdown.parts.insert(0, "### Summary (medians, dB)\n\n" + summary + "\n\n" + SUMMARY_END)
        if oracle:
            oracle_markdown(markdown, oracle)
        markdown.write(args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
