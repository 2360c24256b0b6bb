"""review: a systematic-review toolkit (search, import, dedup, screening, extraction, pooling, PRISMA)."""

__version__ = "0.1.0"

DEFAULT_DB = "review.db"  # the review store unless --db / REVIEW_DB names another
