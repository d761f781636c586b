"""One module per command area; each defines ``area`` (a typer app) and nothing else registers."""
