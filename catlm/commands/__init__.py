"""The subcommands of the ``catlm`` console script, one module each (see ``catlm.cli``)."""
