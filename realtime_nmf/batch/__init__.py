"""Batch processing: a preset applied to every recording of a folder, in parallel or on a Dask cluster.

``rtnmf batch --preset P INPUT_DIR -o OUTPUT_DIR`` (:mod:`realtime_nmf.cli.batch`) runs
:class:`BatchRun`. The output tree mirrors the input tree; the manifest
``OUTPUT_DIR/rtnmf-batch.csv`` holds a row per input (:mod:`.manifest`); a rerun skips
what is done. The pieces, in the order data flows through them:

- :mod:`.inputs`: the folder walk or the file list, streamed, and the input/output layout;
- :mod:`.runner`: the parent's loop (what to skip, a bounded number of files in flight,
  committing finished files, crashes, Ctrl-C);
- :mod:`.executors`: in this process (``--jobs 1``), a pool of local processes, a Dask cluster;
- :mod:`.worker`: what a worker runs (the preset rebuilt from its content, one file at a time);
- :mod:`.manifest`: the CSV record, written by the parent only.

Outputs are byte-identical whichever executor ran them, and identical to
``rtnmf run --input FILE --output FILE``.
"""

from .inputs import DEFAULT_PATTERN, BatchLayout
from .manifest import COLUMNS, Row, read_manifest
from .runner import BatchRun, BatchSummary, run_batch
from .worker import PresetPayload

__all__ = ["BatchRun", "BatchSummary", "run_batch", "BatchLayout", "PresetPayload", "Row", "COLUMNS", "read_manifest", "DEFAULT_PATTERN"]
