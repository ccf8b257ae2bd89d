"""Import every feature before the tests run, so a slow first import never eats a test's wait budget."""

import bot.assembly as _assembly  # noqa: F401
