"""Locating a bias's neurons with the toolkit's defaults, on top of :mod:`attributions`.

- :mod:`.control_scores`: scores of what the model must keep (language modelling, knowledge), cached.
- :mod:`.recipes`: a domain's objective on its dev pairs, attributed and selected against the control scores.
"""
