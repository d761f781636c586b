"""An instance's lifecycle: its statuses, what it waits on, and the one ``transition``
that moves it from one status to another (the claim to ``running`` aside)."""
