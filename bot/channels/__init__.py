"""Channels translate between a platform and the neutral messages; they hold no coaching logic."""
