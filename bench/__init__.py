"""Benchmarks of speechssl against reference implementations (``python -m bench.NAME``).

Each script writes ``bench/results/<name>.json``; ``bench/report.py`` turns them into the README table.
"""
