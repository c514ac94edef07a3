"""Maintenance scripts: rebuilding the bundled presets."""
