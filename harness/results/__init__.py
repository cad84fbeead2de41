"""Results: the record schema and the durable writer (records), and report aggregation (report)."""
