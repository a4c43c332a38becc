"""End-to-end tests against a real Nextcloud (a package, so that its conftest does not shadow tests/conftest.py)."""
