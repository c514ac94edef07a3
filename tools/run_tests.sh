#!/usr/bin/env bash
# Install what the tests need, then run them: bash tools/run_tests.sh [pytest arguments]
#
# - Python packages: this project with its test and docs extras (pip install -e ".[test,docs]"); the docs
#   extra lets tests/test_docs.py build the documentation with warnings as errors.
# - System packages for the live-audio tests (PortAudio, a headless JACK server) and for the
#   audition page test (Chromium and its driver, driven headless by Selenium): installed with
#   apt-get when this runs as root on Debian/Ubuntu; otherwise those tests skip and say why.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v jackd >/dev/null 2>&1 || need+=(jackd2)
ldconfig -p 2>/dev/null | grep -q libportaudio.so.2 || need+=(libportaudio2)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${need[*]} for the live-audio and browser tests"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "note: ${need[*]} not installed and cannot be installed here (needs root and apt-get); the tests that need them will skip"
  fi
fi

python -m pip install --quiet --disable-pip-version-check -e ".[test,docs]"
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
exec python -m pytest "$@"
