"""Operations: server parameters, the event log API, timers, secrets."""
