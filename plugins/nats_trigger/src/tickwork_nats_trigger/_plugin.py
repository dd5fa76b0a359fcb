"""Placeholder until this distribution is written."""
