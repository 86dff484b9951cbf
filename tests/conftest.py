"""Shared fixtures: each resource lives in its own plugin module under tests/fixtures."""

pytest_plugins = [
    "tests.fixtures.app",
    "tests.fixtures.sandbox",
    "tests.fixtures.browser",
]
