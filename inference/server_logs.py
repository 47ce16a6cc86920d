"""What the endpoint writes to its CloudWatch log group, beside what the model server writes itself."""

from __future__ import annotations

import logging

# The toolkit's handler service logs three timing lines at INFO for every request: 3 of the 5 lines and
# about 380 of the 600 bytes the endpoint writes to CloudWatch Logs per request (3 GB a day at 100
# requests a second), and about a tenth of an int8 worker's throughput. SageMaker already publishes each
# request's latency as metrics (ModelLatency, OverheadLatency). Its warnings and errors still go through.
TOOLKIT_HANDLER_LOGGER = "sagemaker_huggingface_inference_toolkit.handler_service"


def quiet_per_request_logs() -> None:
    logging.getLogger(TOOLKIT_HANDLER_LOGGER).setLevel(logging.WARNING)
