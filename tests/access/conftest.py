"""Import every feature before the tests run, so a slow first import never eats a test's wait budget."""

from bot import handlers as _handlers  # noqa: F401
