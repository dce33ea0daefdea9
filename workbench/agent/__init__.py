"""The long-running agent: push listener, incremental sync, slot scheduler, subscription watchdog."""
