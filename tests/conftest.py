"""Shared fixtures. Each area keeps its fixtures in tests/fixtures/<area>.py, registered here."""

pytest_plugins = [
    "tests.fixtures.redis",
    "tests.fixtures.fakeslack",
    "tests.fixtures.e2e",
    "tests.fixtures.sandbox",
]
