"""privtune.synth"""
