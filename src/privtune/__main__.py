"""``python -m privtune`` runs the CLI."""

from privtune.cli.main import main

main()
