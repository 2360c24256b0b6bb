"""review: a systematic-review toolkit (search, import, dedup, screening, extraction, pooling, PRISMA)."""

__version__ = "0.1.0"
