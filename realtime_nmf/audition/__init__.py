"""Audition: hear, see and pick the components of a dictionary on a clip.

- :mod:`~realtime_nmf.audition.report`: :func:`audition` writes one audio file and one
  picture per component, the clip, the residual and a page, and measures each component;
- :mod:`~realtime_nmf.audition.features`: what is measured (energy share, centroid,
  repetition, heartbeat score);
- :mod:`~realtime_nmf.audition.plots`: the pictures (matplotlib, imported only here);
- :mod:`~realtime_nmf.audition.page`: the self-contained HTML page (its HTML, CSS and
  JavaScript are package data in ``assets/``).
"""

from .report import SORT_ORDERS, AuditionReport, audition, component_file_stem

__all__ = ["audition", "AuditionReport", "SORT_ORDERS", "component_file_stem"]
