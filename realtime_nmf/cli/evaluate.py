"""``rtnmf evaluate``: score a separated file against the true target."""

from __future__ import annotations

import json
import math
import sys

from ..errors import RealtimeNMFError


def add_parser(commands) -> None:
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
    p.add_argument("--start", type=float, default=None, metavar="S", help="score from S seconds of the reference on (after alignment)")
    p.add_argument("--end", type=float, default=None, metavar="S", help="score up to S seconds of the reference")
    p.add_argument("--json", action="store_true",
                   help="print the scores as JSON instead of the table: the files, the delay, every metric (null where it is not finite, "
                        "e.g. the SDR of a silent estimate), per channel for multichannel files")
    p.set_defaults(func=command)


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


def command(args) -> int:
    from ..evaluate import evaluate_files

    scores = evaluate_files(args.reference, args.estimate, mixture=args.mixture, latency=_parse_evaluation_latency(args.latency),
                            max_latency=args.max_latency, start=args.start, end=args.end)
    if args.json:
        data = {"reference": args.reference, "estimate": args.estimate, "mixture": args.mixture, **scores.as_dict()}
        print(json.dumps(_strict(data), indent=1, allow_nan=False))
        return 0
    for note in scores.notes:
        print(f"note: {note}", file=sys.stderr)
    rate = scores.sample_rate
    shift = (f"the estimate moved back by {scores.delay} samples" if scores.delay >= 0
             else f"the reference moved back by {-scores.delay} samples")
    print(f"scored {scores.n_samples / rate:.2f} s at {rate} Hz ({shift}; BSS Eval v3 by fast_bss_eval, 512-tap distortion filter)")
    print(scores.text())
    return 0


def _strict(value):
    """``value`` with NaN and infinite numbers (a silent estimate's SDR is -inf) as null: strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _strict(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_strict(item) for item in value]
    return value
