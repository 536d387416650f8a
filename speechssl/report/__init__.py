"""The objective comparison report: RESULTS.md, results.json and plots from an experiment folder.

``collect`` reads run files, ``render`` writes the tables, ``plots`` draws the figures.
"""
