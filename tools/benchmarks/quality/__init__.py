"""Separation quality, measured like the field does: SDRi and SI-SDRi on mixtures with known parts.

Usage: python -m tools.benchmarks.quality [--method NAME ...] [--all] [--list] [--quick] [--full] [--swapped] [--oracle]
[--json FILE] [--markdown FILE]

Runs the user's flow end to end on every case and prints one table per method:

- cases (:mod:`.cases`): the six HLS-CMDS heart+lung mixtures in
  ../shared/data/hls_cmds/exact_sum_mix (target g*H, background g*L, with g from
  ground_truth_mixing.csv) and the FluidSynth groove in ../shared/data/fluidsynth_renders
  (target kick, then target snare; background the rest of the mix);
- the flow (:mod:`.methods`): learn a dictionary from the first half of the mixture (or,
  for labelled methods, from the first half's target and background references), choose
  the components as a careful listener would (from the audition files of the first half,
  compared with the target reference of the first half only: greedy forward selection),
  run the second half through the streaming engine (block by block, latency compensated)
  and score it against the second half's reference;
- columns, per case: SDRi and SI-SDRi (improvement over the mixture itself, BSS Eval v3
  by fast_bss_eval) of the streaming engine; of the same dictionary with every frame's
  activations solved offline to convergence (:func:`realtime_nmf.decompose.separate`);
  and of the seed notebook's way (NMF of the test clip itself, offline, with the method's
  settings, the components chosen on that clip with its own reference: what the
  notebook's listener does, an advantage the other two columns do not have). Medians
  last (:mod:`.report`, which also writes JSON and Markdown).

Methods named ``proto:`` are prototypes of features the engine does not have, computed
offline (:mod:`.prototypes`). Most are causal frame-wise features of the activations
solved to convergence (their "streaming" column is the prototype). ``proto:ctx*`` (causal
temporal context) learns templates from every frame stacked with its past frames; its
"streaming" column runs the engine's per-frame solver (:class:`realtime_nmf.nmf.FrameSolver`,
same updates and warm starts) on the stacked frames, its "offline" column solves them to
convergence.

Methods named ``baseline:`` are not NMF. ``baseline:static-wiener`` is a fixed
per-frequency gain (a static Wiener filter, an equaliser) learned from the first half's
target reference and background, the information the labelled methods use, applied to
the second half's mixture STFT at the defaults' STFT settings: causal, with the engine's
latency. Its "streaming" column is the filter, its "offline" column the same filter
(printed again), and it has no seed notebook column (n/a).

Beside every method (:mod:`.oracle_share`), each case also gets the ideal ratio mask's
SDRi at the method's STFT settings and the streaming engine's SDRi with the components
chosen by 3 s of the target alone (as ``rtnmf audition --reference`` chooses them); each
method prints its median beside the ideal ratio mask's, the share of it reached, and the
share of the aligned reference's choice the example's reaches. ``--full`` runs the 29
exact heart+lung triples of ``hls_cmds_full`` instead of the six.

The second half is never used for training or choosing in the first two columns. With
--oracle, context rows that do use it are added for the heart+lung cases: the ideal
ratio and Wiener masks (the true parts' spectrograms) and supervised NMF with
dictionaries learned on the test half's own true parts (upper bounds for masking and for
template-based NMF at the method's STFT settings).

Without the shared data folder, the benchmark says so and exits 0.
"""
