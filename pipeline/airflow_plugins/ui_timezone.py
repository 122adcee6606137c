"""Airflow plugin: the UI shows Beijing time unless the user picked another time zone.

Airflow 3's UI has no server-side default time zone (Airflow 2's `[webserver]
default_ui_timezone` is gone): it shows the browser's zone, UTC on a server-side browser or a
machine set to UTC, and keeps a user's choice in the browser's localStorage under `timezone`.
This middleware adds a few lines to the UI's page that store `[core] default_timezone`
(Asia/Shanghai on this platform) there when the user has made no choice yet, so the
time-zone menu still works and a user's own choice is never overwritten.

Loaded from AIRFLOW__CORE__PLUGINS_FOLDER (pipeline/airflow_setup.py).
"""

from __future__ import annotations

import json
from typing import ClassVar

from airflow.configuration import conf
from airflow.plugins_manager import AirflowPlugin
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.responses import Response

# the key and the JSON encoding the UI's useLocalStorage hook reads
STORAGE_KEY = "timezone"


def default_ui_timezone() -> str:
    return conf.get("core", "default_timezone", fallback="utc")


def timezone_script(zone: str) -> bytes:
    key, value = json.dumps(STORAGE_KEY), json.dumps(json.dumps(zone))
    return (
        f"<script>try{{if(!localStorage.getItem({key}))"
        f"localStorage.setItem({key},{value})}}catch(e){{}}</script>"
    ).encode()


def with_default_timezone(page: bytes, zone: str) -> bytes:
    """`page` with the script just before </head> (before the UI's deferred module runs)."""
    return page.replace(b"</head>", timezone_script(zone) + b"</head>", 1)


class DefaultTimezoneMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request, call_next):
        response = await call_next(request)
        if not response.headers.get("content-type", "").startswith("text/html"):
            return response
        body = b"".join([chunk async for chunk in response.body_iterator])
        page = Response(with_default_timezone(body, default_ui_timezone()), response.status_code)
        # every header of the original (cookies included) but its length
        kept = [(k, v) for k, v in response.raw_headers if k.lower() != b"content-length"]
        page.raw_headers = [*kept, (b"content-length", str(len(page.body)).encode())]
        return page


class UiTimezonePlugin(AirflowPlugin):
    name = "ui_default_timezone"
    fastapi_root_middlewares: ClassVar[list[dict]] = [
        {"middleware": DefaultTimezoneMiddleware, "name": "default UI time zone"}
    ]
