"""The wire of the run-level stages: msgspec mirrors of the batch events (``records``), their codec and
encoder/publisher (``batch_codec``), and the prefetcher that decodes a run's batches as they come
(``batch_prefetch``). Used by the cleaner and the scorer; no stage logic."""
