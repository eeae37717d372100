"""Sends usage to Bulkhead as CloudEvents, framed by the official Python SDK
(PyPI `cloudevents`): one event in structured mode, then a batch. The SDK
frames single events; a batch (`application/cloudevents-batch+json`) is the
JSON array of the SDK's structured events, as the spec defines it.

usage: cloudevents_send.py URL TOKEN TENANT SOURCE
Prints one JSON line per request: {"status": …, "body": …}.
"""
import json
import sys
import urllib.error
import urllib.request
from datetime import datetime, timezone

from cloudevents.core.bindings.http import to_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

url, token, tenant, source = sys.argv[1:5]
fmt = JSONFormat()


def usage(event_id, metric, value):
    return CloudEvent(
        attributes={
            "id": event_id,
            "source": source,
            "type": "bulkhead.usage",
            "subject": tenant,
            "time": datetime.now(timezone.utc),
            "datacontenttype": "application/json",
        },
        data={"metric": metric, "value": value},
    )


def post(headers, body):
    headers = dict(headers)
    headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read()
    print(json.dumps({"status": status, "body": json.loads(text or b"null")}), flush=True)


# One event, structured mode.
message = to_structured(usage("ev-1", "users", 7), fmt)
post(message.headers, message.body)

# A batch of three, one of them the same event again (a retry).
events = [usage("ev-2", "storage_bytes", 1048576), usage("ev-3", "users", 9), usage("ev-1", "users", 7)]
batch = b"[" + b",".join(fmt.write(e) for e in events) + b"]"
post({"Content-Type": "application/cloudevents-batch+json"}, batch)
