"""privtune.ingest"""
