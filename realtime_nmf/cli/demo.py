"""``rtnmf demo``: the whole workflow on a generated stethoscope recording."""

from __future__ import annotations

import argparse

from .. import defaults


def add_parser(commands) -> None:
    p = commands.add_parser("demo", help="run the whole workflow on a generated stethoscope recording",
                            description="Synthesise a stethoscope recording, train, save a preset, separate the heartbeat and print SDR, latency and speed.")
    p.add_argument("-o", "--output", default="rtnmf_demo", metavar="DIR", help="folder for the demo files (default ./rtnmf_demo)")
    p.add_argument("--block-size", type=int, default=defaults.BLOCK_SIZE, metavar="N", help=argparse.SUPPRESS)
    p.set_defaults(func=command)


def command(args) -> int:
    from ..demo import run_demo

    print("running the demo: synthesising a stethoscope recording, training, separating (no sound card needed)...")
    report = run_demo(args.output, block_size=args.block_size)
    print(report.text())
    print(f"\nlisten: {report.mixture_path} (input) and {report.output_path} (heartbeat only)")
    return 0
