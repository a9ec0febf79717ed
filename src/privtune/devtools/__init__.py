"""privtune.devtools: tools for working on privtune itself (not used by the product at run time)."""
