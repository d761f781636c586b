"""Command runs: the runner (process groups, logs), executing a claimed instance, the lane dispatcher, ending and cancelling instances."""
