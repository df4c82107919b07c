"""Everything after an alert event: policy, outbox, rendering, and the channels."""
