"""The browser fixtures of tests/e2e (a live server, Chromium, pages that fail on console or server errors), for
the directory's browser check in test_browser.py."""

from tests.e2e.conftest import (  # noqa: F401  (fixtures and the hook that fails a test on browser problems)
    browser,
    browser_problems,
    context,
    e2e_schema,
    live_app,
    live_server,
    page,
    pytest_runtest_call,
)
