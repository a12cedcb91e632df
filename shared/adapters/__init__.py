"""One module per dependency whose private (``_``-prefixed) names Hunter uses, and the only place
that names them. Each has a unit test (``tests/unit/test_adapters.py``) that fails loudly when an
upgrade of the dependency moves what it reaches into. Each is named for its dependency and what it
reaches (``faststream_broker``), never for the bare dependency: a module named ``faststream`` would
read as ours to ``tests/unit/test_declared_dependencies.py``'s import scan."""
