"""The process monitor: filters with a cap, pages of instances, saved filters."""
