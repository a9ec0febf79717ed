"""privtune.models"""
