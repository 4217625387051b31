"""Stored predictions: canonical keys (`keys`) and the Redis store (`redis_store`)."""
