"""What the audition looks for: neutral by default, or a heartbeat, or percussion (``rtnmf audition --profile``).

A profile names the target, adds one score column to the table and the page (none for
``general``), marks the components that score high (``likely``, ``maybe``), offers a
button that ticks the likely ones, says what to try when none is likely, and suggests
the preset's name. Every profile shows the same features (energy, centroid, repetition,
percussiveness); the profile only points the ear at candidates, it does not decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..errors import ParameterError
from .features import HEARTBEAT_MARKS, ComponentFeatures

__all__ = ["Profile", "PROFILES", "get_profile", "PERCUSSIVE_MARKS"]

#: Percussiveness from which a component is marked ``likely`` and ``maybe`` percussive (see
#: :func:`realtime_nmf.audition.features.percussiveness`: on a drum-bass-piano mixture the
#: components that were mostly drums scored 0.31 to 0.58, the others 0.04 to 0.06; noise
#: such as breathing about 0.1 to 0.2).
PERCUSSIVE_MARKS = (0.4, 0.25)


@dataclass(frozen=True)
class Profile:
    """One kind of target the audition can look for.

    Attributes
    ----------
    name : str
    target : str
        The target in words, plural ("heartbeats").
    column : str
        Header of the profile's score column; "" for none.
    score : callable or None
        Score of a component's features, 0 to 1 (None: the profile scores nothing).
    marks : (float, float)
        Scores from which a component is ``likely`` and ``maybe`` the target.
    preset_name : str
        The preset name the page suggests ("" for the dictionary's name).
    """

    name: str
    target: str
    column: str = ""
    score: Callable[[ComponentFeatures], float] | None = None
    marks: tuple[float, float] = (1.0, 1.0)
    preset_name: str = ""

    def value(self, f: ComponentFeatures) -> float:
        """The profile's score of a component (0 for a profile without a score)."""
        if self.score is None:
            return 0.0
        value = self.score(f)
        return value if value == value else 0.0  # NaN (a silent component) scores 0

    def mark(self, f: ComponentFeatures) -> str:
        """``"likely"``, ``"maybe"`` or ``""``."""
        if self.score is None:
            return ""
        likely, maybe = self.marks
        value = self.value(f)
        return "likely" if value >= likely else "maybe" if value >= maybe else ""


PROFILES = {
    "general": Profile("general", "target"),
    "heartbeat": Profile("heartbeat", "heartbeats", column="heartbeat", score=lambda f: f.heartbeat_score, marks=HEARTBEAT_MARKS,
                         preset_name="heartbeat"),
    "percussion": Profile("percussion", "percussive sounds", column="percussive", score=lambda f: f.percussiveness,
                          marks=PERCUSSIVE_MARKS, preset_name="drums"),
}


def get_profile(name: str | Profile) -> Profile:
    """A profile by name (``general``, ``heartbeat``, ``percussion``)."""
    if isinstance(name, Profile):
        return name
    if name not in PROFILES:
        raise ParameterError(f"profile={name!r} is not one of {', '.join(PROFILES)}")
    return PROFILES[name]
