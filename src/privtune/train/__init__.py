"""privtune.train"""
