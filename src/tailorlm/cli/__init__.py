"""The command line: thin Typer commands over the stage packages, one module per command group."""
