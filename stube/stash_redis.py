"""Compatibility path: ``RedisStashStore`` lives in :mod:`stube.stash.redis`."""
from .stash.redis import RedisStashStore

__all__ = ["RedisStashStore"]
