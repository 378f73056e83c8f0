"""The test settings for a worker subprocess run as a project following the docs would be:
the ``LOGGING`` it is given (``WEBHOOKS_TEST_LOGGING``, JSON: docs/observability.md's
example, in tests/observability/test_logs.py), and Celery's own default of taking
over the root logger."""

import json
import os

from tests.settings import *  # noqa: F403

LOGGING = json.loads(os.environ["WEBHOOKS_TEST_LOGGING"])
CELERY_WORKER_HIJACK_ROOT_LOGGER = True
