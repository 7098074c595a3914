"""Training: fitting the answer policy and its citation cut-off on tuning data.

Nothing at run time imports this package; it imports the answer and eval stages.
"""
