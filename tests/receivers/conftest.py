import pytest

from webhooks_app.receivers import processing


@pytest.fixture(autouse=True)
def _fresh_copy_rates():
    """Each test starts with no history of copies: its copies go through the upsert."""
    processing.copy_rates.reset()
    yield
    processing.copy_rates.reset()
