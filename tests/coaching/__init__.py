"""Unit tests of the pure coaching logic: scoring, stages, call planning and account names."""
