"""The receiver's operations, independent of HTTP: ingest, reads, actions, health, metrics."""
