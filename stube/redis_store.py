"""Compatibility path: ``RedisStore`` lives in :mod:`stube.store.redis`."""
from .store.redis import RedisStore

__all__ = ["RedisStore"]
