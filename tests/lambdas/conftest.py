"""Fixtures for the Lambda tests (defined in lambda_stack.py, which the tests also import helpers from)."""

from lambda_stack import lambda_context, stack

__all__ = ["lambda_context", "stack"]
