"""Store outages over real HTTP: the demo server answers 503, then 200 again."""
