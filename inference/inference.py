"""Handler of the Hugging Face inference DLC: the toolkit calls these four functions.

Bad requests raise :class:`payloads.ClientError` (a 4xx with a message naming the field);
anything else is a server fault. Note that toolkit 2.6's ``handle()`` reports every
exception as 400; the message still says which field to fix.
"""

from __future__ import annotations

from classifier import TextClassifier
from payloads import DECODERS, ClientError, as_text, bounded, choose_encoder, media_type
from server_logs import log_signals, quiet_per_request_logs


def model_fn(model_dir):
    quiet_per_request_logs()
    return TextClassifier.load(model_dir)


def input_fn(input_data, content_type):
    decode = DECODERS.get(media_type(content_type))
    if decode is None:
        raise ClientError(
            f"content_type: {content_type!r} is not supported. Fix: send one of {', '.join(DECODERS)}.", status=415
        )
    return decode(as_text(input_data))


def predict_fn(request, model):
    results, signals = model.predict_with_signals(request)
    log_signals(signals)
    return {"results": results, "single": request.single}


def output_fn(prediction, accept):
    return bounded(choose_encoder(accept)(prediction["results"], prediction["single"]))
