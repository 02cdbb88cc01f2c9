"""One module per ``midstance`` subcommand; each has ``add_parser(subparsers)`` and ``run(args)``.

Command modules import heavy dependencies inside ``run`` so that ``midstance --help`` is fast.
"""
