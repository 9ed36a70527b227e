"""Subcommands of the ``multipower`` command line (see ``multipower.cli``)."""
