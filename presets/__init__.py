"""Presets bundled with realtime_nmf (YAML files and their dictionaries), installed as package data.

Regenerate them with ``python tools/make_bundled_presets.py``.
"""
