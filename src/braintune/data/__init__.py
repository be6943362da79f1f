"""Readers of the real on-disk corpora (ds003020, TIMIT, Speech Commands).

Knows no other stage. Generators of stand-ins in the same layouts live in braintune.synthetic.
"""
