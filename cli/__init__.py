"""`textclf`: the project's one command line, with a subcommand per job."""
