"""privtune.reports"""
