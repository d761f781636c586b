"""Work items: forms routed to people and workgroups, their states, timers and access."""
