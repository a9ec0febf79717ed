"""privtune.pii"""
