"""The test suite (a regular package, so that `tests` here wins over any `tests` package that a
test dependency installs: torch-fidelity ships one)."""
