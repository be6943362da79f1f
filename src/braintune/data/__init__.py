"""Readers and generators of the on-disk corpora (ds003020, TIMIT, Speech Commands).

Knows no other stage.
"""
