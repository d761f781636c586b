"""The expression sandbox (Jinja, immutable), its size limits, and form field patterns."""
