"""Living reviews: review versions (updates), re-running saved searches, and what an update adds
to the screening queue and to PRISMA."""
