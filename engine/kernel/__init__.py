"""What every part of the engine shares: clock, transactions with their events, the event bus and log, background tasks, the store-error boundary, node config. Imports no other engine subpackage."""
