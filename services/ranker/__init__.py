"""Ranker: learns who to contact next from the funnel's outcomes (pure modules + a thin FastStream app)."""
