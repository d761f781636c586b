"""A node at work: the runtime, node rows and liveness, console sessions, recovery of dead nodes' work, and the on-disk checks before a store opens."""
