"""`python -m gestalt.cli`: the `gestalt` command."""

from gestalt.cli import main

main()
