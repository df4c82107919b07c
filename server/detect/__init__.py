"""Detection, pure and in memory, on event time: statistics, the engine, the alert lifecycle."""
