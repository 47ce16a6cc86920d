"""What the endpoint writes to its CloudWatch log group, beside what the model server writes itself."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

from contract import signal_line

# The toolkit's handler service logs three timing lines at INFO for every request: 3 of the 5 lines and
# about 380 of the 600 bytes the endpoint writes to CloudWatch Logs per request (3 GB a day at 100
# requests a second), and about a tenth of an int8 worker's throughput. SageMaker already publishes each
# request's latency as metrics (ModelLatency, OverheadLatency). Its warnings and errors still go through.
TOOLKIT_HANDLER_LOGGER = "sagemaker_huggingface_inference_toolkit.handler_service"


def quiet_per_request_logs() -> None:
    logging.getLogger(TOOLKIT_HANDLER_LOGGER).setLevel(logging.WARNING)


def log_signals(signals: Iterable) -> None:
    """One line per answered text on stdout, which the model server relays to the endpoint's log group, where the
    stack's metric filters read them (contract.SIGNAL_MARKER). One write: the lines of a request stay together."""
    lines = "".join(signal_line(*signal) + "\n" for signal in signals)
    if lines:
        sys.stdout.write(lines)
        # The worker's stdout is a pipe to the model server: unflushed, a line would wait for the buffer to fill.
        sys.stdout.flush()
