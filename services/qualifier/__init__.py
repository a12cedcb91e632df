"""Qualifier: each enriched lead's fit, pain / need signals and data quality against the run's ICP, by rules
offline and optionally by an OpenAI-compatible LLM (pure modules + a thin FastStream app)."""
