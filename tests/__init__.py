"""The test suite; a package so that `from tests.conftest import free_port` works everywhere."""
