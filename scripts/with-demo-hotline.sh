#!/usr/bin/env bash
# Run a command with the demo city's hotline API up on 127.0.0.1, then stop it.
# The API stands in for the hotline vendor's server: the pipeline only sees its URL and token.
# Usage: scripts/with-demo-hotline.sh CITY_DIR PYTHON COMMAND...
set -euo pipefail
city="$1"; python="$2"; shift 2
port="${HOTLINE_PORT:-8765}"
export HOTLINE_API_TOKEN="${HOTLINE_API_TOKEN:-$("$python" -c 'import secrets; print(secrets.token_hex(16))')}"
export HOTLINE_BASE_URL="http://127.0.0.1:${port}"
export CITY_DIR="$city"
"$python" -m simulator serve-hotline --out "$city" --port "$port" --token "$HOTLINE_API_TOKEN" \
    >"${city%/}.hotline.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
    if "$python" -c "import httpx,sys; sys.exit(httpx.get('$HOTLINE_BASE_URL/health').status_code != 200)" 2>/dev/null; then
        break
    fi
    sleep 0.2
done
"$@"
