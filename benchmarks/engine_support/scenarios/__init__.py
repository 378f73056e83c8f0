"""One module per scenario; each ``run(bench, ...)`` returns a report ``Section``.

A scenario that cannot finish raises; ``benchmarks/engine.py`` puts the error
in its section and goes on with the next one.
"""
