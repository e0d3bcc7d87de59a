"""Everything persisted and everything about text: schema, articles, ingestion, search."""
