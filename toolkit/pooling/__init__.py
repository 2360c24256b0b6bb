"""pooling stage."""
