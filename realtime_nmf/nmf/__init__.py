"""Beta-divergence NMF: the divergence, multiplicative updates, training and H-only solves.

Orientation
-----------
realtime_nmf uses the audio orientation everywhere::

    V (n_bins, n_frames)  ~=  W (n_bins, n_components)  @  H (n_components, n_frames)

The columns of ``W`` are spectral templates, the rows of ``H`` their activations over
time. scikit-learn's :class:`sklearn.decomposition.NMF` uses the transpose (its ``W`` is
our ``H.T`` and its ``components_`` is our ``W.T``).

Updates
-------
The multiplicative updates are the majorisation-minimisation updates of Fevotte and
Idier (2011): the heuristic ratio raised to the exponent :func:`mu_exponent`, which makes
the divergence non-increasing for every ``beta >= 0``. An optional L1 penalty
``sparsity * sum(H)`` is added to the denominator of the H update. One epsilon,
:data:`realtime_nmf.defaults.EPS`, guards against division by zero and keeps values out
of the denormal range: every denominator, every entry of ``W`` and ``H`` is floored at it,
and it is added to the model ``W @ H`` for every beta but 2, which needs no ratio (the
updates raise the model to the power ``beta - 2``). Training skips it for beta = 1, where
the floors on ``W`` and ``H`` already keep ``W @ H > 0``; :class:`FrameSolver` keeps it,
since a dictionary read from disk may hold a frequency row of zeros.
Adding it rather than taking a maximum costs an eighth as much and changes the model by
at most ``EPS``.

References
----------
C. Fevotte and J. Idier, "Algorithms for nonnegative matrix factorization with the
beta-divergence", Neural Computation 23(9), 2011.
C. Boutsidis and E. Gallopoulos, "SVD based initialization: a head start for
nonnegative matrix factorization", Pattern Recognition 41(4), 2008.

Modules
-------
- :mod:`~realtime_nmf.nmf.divergence`: the beta divergence and the update exponents;
- :mod:`~realtime_nmf.nmf.updates`: multiplicative updates of whole matrices;
- :mod:`~realtime_nmf.nmf.fit`: initialisation and training (``W`` and ``H``);
- :mod:`~realtime_nmf.nmf.solve`: offline H-only solves against a fixed ``W``;
- :mod:`~realtime_nmf.nmf.frame_solver`: the real-time H-only solver, frame by frame.

This package is the math only: it knows nothing of audio, files or STFT settings.
"""

from .divergence import beta_divergence, frame_exponent, mu_exponent, validate_beta
from .fit import NMFResult, fit, initialize
from .frame_solver import FrameSolver
from .solve import initial_activations, solve_activations
from .updates import sweep_workspace, update_h, update_hw, update_w

__all__ = [
    "mu_exponent",
    "frame_exponent",
    "validate_beta",
    "beta_divergence",
    "update_h",
    "update_w",
    "update_hw",
    "sweep_workspace",
    "initialize",
    "fit",
    "NMFResult",
    "initial_activations",
    "solve_activations",
    "FrameSolver",
]
