"""Searching bibliographic databases: NCBI E-utilities (PubMed)."""
