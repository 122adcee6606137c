"""Superset configuration of the platform (found through SUPERSET_CONFIG_PATH or PYTHONPATH).

Every setting comes from `groundfloor.settings` (the project's one reader of the environment
and `.env`): the metadata database (SQLite under data/superset/ by default), the secret key,
and the Redis cache when one is configured. The interface is Chinese by default.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
if str(PROJECT) not in sys.path:
    sys.path.append(str(PROJECT))


def _container_settings():
    """The production image mounts this file alone (docker-compose.yml), without the project:
    the same settings from the container's environment, metadata under SUPERSET_HOME."""
    import os
    from types import SimpleNamespace

    env = os.environ
    home = env.get("SUPERSET_HOME", "/app/superset_home")
    return SimpleNamespace(
        secret_key=env.get("SUPERSET_SECRET_KEY") or None,
        metadata_uri=env.get("SUPERSET_METADATA_URI", f"sqlite:///{home}/superset.db"),
        redis_host=env.get("REDIS_HOST") or None,
        redis_port=int(env.get("REDIS_PORT", "6379")),
        redis_password=env.get("REDIS_PASSWORD") or None,
    )


try:
    from groundfloor.settings import superset_settings
except ModuleNotFoundError:
    SETTINGS = _container_settings()
else:
    SETTINGS = superset_settings()
if not SETTINGS.secret_key:
    raise RuntimeError(
        "SUPERSET_SECRET_KEY is not set: put it in the environment or in .env "
        "(`make dashboards` writes a random one to .env)"
    )

SECRET_KEY = SETTINGS.secret_key
SQLALCHEMY_DATABASE_URI = SETTINGS.metadata_uri
SQLALCHEMY_EXAMPLES_URI = None

# Chinese first; English stays selectable. Flask-AppBuilder gives a visitor without a choice
# in the session (anyone on the login page) BABEL_DEFAULT_LOCALE, whatever the browser's language.
BABEL_DEFAULT_LOCALE = "zh"
LANGUAGES = {
    "zh": {"flag": "cn", "name": "简体中文"},
    "en": {"flag": "us", "name": "English"},
}

# The login page is translated in the browser, from /superset/language_pack/zh/; that view asks
# for a login, so before login the page got no translations and showed English. The pack is
# Superset's own static file: served to anyone, with the login page's missing or wrong entries
# of Superset's translation ("Sign in" is translated "Not In") put right.
LANGUAGE_PACK_PATH = "/superset/language_pack/zh/"
LOGIN_PAGE_ZH = {
    "Sign in": "登录",
    "Enter your login and password below:": "请输入用户名和密码：",
    "Register": "注册",
}


def chinese_language_pack() -> dict:
    import json

    import superset

    path = Path(superset.__file__).parent / "translations" / "zh" / "LC_MESSAGES" / "messages.json"
    pack = json.loads(path.read_text(encoding="utf-8"))
    pack["locale_data"]["superset"].update({k: [v] for k, v in LOGIN_PAGE_ZH.items()})
    return pack


def serve_language_pack_to_everyone(app) -> None:
    from flask import jsonify, request

    pack = chinese_language_pack()

    @app.before_request
    def language_pack():
        if request.path == LANGUAGE_PACK_PATH:
            return jsonify(pack)
        return None


FLASK_APP_MUTATOR = serve_language_pack_to_everyone

FEATURE_FLAGS = {
    "DASHBOARD_RBAC": True,
    "ALERT_REPORTS": False,
    "ENABLE_TEMPLATE_PROCESSING": False,
}

# Only the bundle's databases: nobody adds a connection through the UI's upload paths.
PREVENT_UNSAFE_DB_CONNECTIONS = True
# Offline machine: no Mapbox, no telemetry, no CDN.
MAPBOX_API_KEY = ""
SCARF_ANALYTICS = False
TALISMAN_ENABLED = False
SUPERSET_WEBSERVER_TIMEOUT = 120
ROW_LIMIT = 50000

# Query results: cached in Redis for a minute when Redis is configured (production), not at
# all otherwise, so that a newly published snapshot shows at the next query.
if SETTINGS.redis_host:
    _redis = f"redis://:{SETTINGS.redis_password or ''}@{SETTINGS.redis_host}:{SETTINGS.redis_port}"
    CACHE_CONFIG = {
        "CACHE_TYPE": "RedisCache",
        "CACHE_DEFAULT_TIMEOUT": int(timedelta(hours=1).total_seconds()),
        "CACHE_KEY_PREFIX": "superset_",
        "CACHE_REDIS_URL": f"{_redis}/0",
    }
    DATA_CACHE_CONFIG = {
        "CACHE_TYPE": "RedisCache",
        "CACHE_DEFAULT_TIMEOUT": 60,
        "CACHE_KEY_PREFIX": "superset_data_",
        "CACHE_REDIS_URL": f"{_redis}/1",
    }
else:
    DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}

# Handlebars charts (the KPI tiles, 数据截至) style their HTML with classes and a <style> block:
# keep those through Superset's HTML sanitiser (everything else it strips stays stripped).
HTML_SANITIZATION_SCHEMA_EXTENSIONS = {"attributes": {"*": ["className"]}, "tagNames": ["style"]}
