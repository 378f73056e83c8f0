"""A tiny app for the benchmark: the model the peer watches, and the baseline's task."""
