"""The command line: ``bundle``'s parser, console, configuration file,
command handlers and the one error boundary, and the process tuning that
only the command's own process gets.

Interface: ``bundler.cli.main.run(argv)`` returns an exit code, and
``main()`` runs it as the ``bundle`` command; nothing in the library
imports this package.
"""
