"""The ``energizer`` command line."""
