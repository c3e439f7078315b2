"""Self-test, start-up probe, logs and the About box."""
