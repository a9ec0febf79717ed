"""privtune.store"""
