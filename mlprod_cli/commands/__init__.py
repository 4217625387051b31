"""One module per command; each exposes a plain function that `mlprod_cli.main` wires."""
