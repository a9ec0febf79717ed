"""privtune.cli"""
