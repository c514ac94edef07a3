#!/usr/bin/env bash
# The lowest versions pyproject.toml allows install together and pass the tests:
#   bash tools/ci/lowest-versions.sh [pytest arguments]
#
# Makes a throwaway venv (no system site packages) with $PYTHON (default: python), installs the
# package with its test and docs extras under the exact pins of tools/ci/lowest-requirements.txt (from
# wheels, except the two pure-Python sdists that have none), prints what got installed, checks
# that each lower bound in pyproject.toml equals its pin, then runs the test suite there. Exits
# non-zero when anything fails. The system packages the live and browser tests need
# (libportaudio2, jackd2, chromium, chromium-driver) must already be there: tools/run_tests.sh
# installs them.
set -euo pipefail
cd "$(dirname "$0")/../.."

python=${PYTHON:-python}
venv=$(mktemp -d "${TMPDIR:-/tmp}/rtnmf-lowest.XXXXXX")
trap 'rm -rf "$venv"' EXIT

"$python" -m venv "$venv"
echo "lowest versions: installing into a fresh venv with $("$venv/bin/python" --version)"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  --only-binary :all: --no-binary fast_bss_eval,mir_eval \
  -c tools/ci/lowest-requirements.txt -e ".[test,docs]"
"$venv/bin/python" -m pip freeze --disable-pip-version-check --exclude-editable
"$venv/bin/python" -m pip check --disable-pip-version-check

"$venv/bin/python" - <<'EOF'
"""Every dependency in pyproject.toml has a lower bound equal to its pin, every pin a dependency."""
import sys
from importlib.metadata import version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest's own dependency tomli is the same parser
    import tomli as tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

with open("pyproject.toml", "rb") as f:
    project = tomllib.load(f)["project"]
pins = {}
with open("tools/ci/lowest-requirements.txt") as f:
    for line in f:
        line = line.split("#", 1)[0].strip()
        if line:
            name, pinned = line.split("==")
            pins[canonicalize_name(name)] = Version(pinned)
problems = []
declared = [*project["dependencies"], *(r for extra in project["optional-dependencies"].values() for r in extra)]
for text in declared:
    req = Requirement(text)
    name = canonicalize_name(req.name)
    lows = [Version(s.version) for s in req.specifier if s.operator == ">="]
    if not lows:
        problems.append(f"{text}: no lower bound (write >=, the version pinned in lowest-requirements.txt)")
    elif name not in pins:
        problems.append(f"{text}: not pinned in tools/ci/lowest-requirements.txt")
    elif max(lows) != pins[name]:
        problems.append(f"{text}: lower bound {max(lows)} but lowest-requirements.txt pins {pins[name]}")
    elif Version(version(req.name)) != pins[name]:
        problems.append(f"{text}: {version(req.name)} installed, {pins[name]} pinned")
for name in sorted(set(pins) - {canonicalize_name(Requirement(t).name) for t in declared}):
    problems.append(f"{name}: pinned in tools/ci/lowest-requirements.txt but not a dependency")
if problems:
    sys.exit("lowest versions: pyproject.toml and tools/ci/lowest-requirements.txt disagree:\n  "
             + "\n  ".join(problems))
print(f"lowest versions: all {len(declared)} lower bounds of pyproject.toml installed as pinned")
EOF

export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
"$venv/bin/python" -m pytest -q -x "$@"  # its exit status is the script's (the trap removes the venv)
