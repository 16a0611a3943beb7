"""The ``support`` template: intent classification on a synthetic bank customer-support corpus.

The example data set is produced by :mod:`tailorlm.templates.support.generate`.
"""
