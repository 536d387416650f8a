"""The ``speechssl`` command: one module per subcommand family, each with ``register(subparsers)``."""
