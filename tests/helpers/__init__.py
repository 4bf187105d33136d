"""Plain helpers shared by the test modules (imported as ``tests.helpers.<module>``; no tests here).

Fixtures live in the ``conftest.py`` files; what a test calls with arguments lives here."""
