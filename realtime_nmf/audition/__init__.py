"""Audition: hear, see and pick the components of a dictionary on a clip.

- :mod:`~realtime_nmf.audition.report`: :func:`audition` writes one audio file and one
  picture per component, the clip, the residual and a page, and measures each component;
- :mod:`~realtime_nmf.audition.features`: what is measured (energy share, centroid,
  repetition, percussiveness, heartbeat score);
- :mod:`~realtime_nmf.audition.profiles`: what is looked for (``general``, ``heartbeat``,
  ``percussion``): a score column, marks, the tick button;
- :mod:`~realtime_nmf.audition.reference`: ranking the components by a short example of
  the target alone, and the components it suggests;
- :mod:`~realtime_nmf.audition.selection`: the data with which the page mixes and plays
  the ticked components itself;
- :mod:`~realtime_nmf.audition.plots`: the pictures (matplotlib, imported only here);
- :mod:`~realtime_nmf.audition.page`: the self-contained HTML page (its HTML, CSS and
  JavaScript, the selection player included, are package data in ``assets/``).
"""

from .profiles import PROFILES, Profile
from .reference import ExampleRanking, rank_by_example
from .report import SORT_ORDERS, AuditionReport, audition, component_file_stem

__all__ = ["audition", "AuditionReport", "SORT_ORDERS", "component_file_stem", "PROFILES", "Profile", "ExampleRanking", "rank_by_example"]
