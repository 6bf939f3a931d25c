"""Helpers that more than one test package uses and only tests need.

The real services the tests start live in local_services/, shared with the demo stack and
the benchmarks.
"""
