"""One module per `workbook` subcommand; each defines `register(subparsers)`."""
