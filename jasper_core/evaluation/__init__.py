"""Retrieval evaluation: the core builds the context, a metric plugin computes the figures."""
