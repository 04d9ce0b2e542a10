"""Figures and self-contained HTML reports of the analyses in :mod:`neuronedit.analysis`.

- :mod:`.plots`: the transfer analysis's figures.
- :mod:`.transfer`: ``report.html`` of a transfer analysis.
- :mod:`.comparison`: ``compare.html`` of a comparison of debiasing methods.
"""
