"""privtune.datasets"""
