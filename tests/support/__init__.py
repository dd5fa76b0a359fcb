"""Helpers shared by the test suite (service discovery, servers the tests start)."""
