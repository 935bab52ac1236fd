"""Uncertainty for every quality figure: bootstrap intervals, paired tests against a reference, sample sizes.

Pure numpy/scipy functions, no knowledge of methods or reports; adaptlab.compare applies them.
"""
