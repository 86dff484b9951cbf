"""Shared fixtures: each resource lives in its own plugin module under tests/fixtures."""

# Order matters: a plugin is listed before any plugin that imports it.
pytest_plugins = [
    "tests.fixtures.sandbox",
    "tests.fixtures.browser",
    "tests.fixtures.app",
    "tests.fixtures.database",
    "tests.fixtures.mail",
    "tests.fixtures.services",
    "tests.fixtures.staff",
]
