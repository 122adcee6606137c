"""The sharing service (数据共享服务): the calls of contract/spec/sharing.md over HTTP.

Every request goes through `SharingService.handle`: the key (401), the consumer's rate
(429), then the call's own work, in which the decision from the grants (403) comes before
any look-up; whatever the outcome, one audit record is appended to the chain before the
answer leaves, and when that fails the answer is a 500 carrying nothing of the data.

No raw identity number, name or phone is logged: uvicorn's access log (which would log the
path, holding the identity number) is off, and the service logs one line per request with
the pseudonymous subject key only.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from pathlib import Path as FilePath
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Path, Query, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from contract.identity import (
    is_valid_identity,
    is_valid_uscc,
    normalise_identity,
    normalise_uscc,
)
from sharing.access import Decision, decide
from sharing.catalogue import Catalogue
from sharing.limits import RateLimiter
from sharing.pseudonyms import enterprise_key, person_key
from sharing.registry import Consumer
from sharing.snapshot import SnapshotReader, name_digest, table_name
from sharing.store import (
    REGISTRY_VERSION_FIELD,
    AuditWriteFailed,
    AuditWriter,
    RegistryChanged,
    Store,
    now_text,
)

LOG = logging.getLogger("sharing.service")
CITY_TIME = ZoneInfo("Asia/Shanghai")
KEY_HEADER = "X-API-Key"
TOO_LARGE = None  # what read_body gives for a body over the limit
STATIC = FilePath(__file__).with_name("static")  # Swagger UI, served here: no CDN needed


class Refusal(Exception):
    """An answer other than 200, with its reason for the audit log."""

    def __init__(self, status: int, reason: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.reason, self.message, self.field = status, reason, message, field
        self.headers: dict[str, str] = {}

    def body(self) -> dict:
        body = {"error": self.reason, "message": self.message}
        if self.field:
            body["field"] = self.field
        return body


class Caller:
    def __init__(self, consumer: Consumer, key_id: str, grants: list, expires: str | None = None):
        self.consumer, self.key_id, self.grants = consumer, key_id, grants
        self.expires = expires  # when the key stops working (rotated out), None if it does not


CACHED_CALLERS = 10_000  # keys held in memory per worker at most (then the cache starts over)
DECIDE_AGAIN = 5  # a call decided on a registry that changed meanwhile: at most so many times


# --- request bodies (the OpenAPI schema; validated in the handler so that a 422 is audited) ---


class VerifyIdentityBody(BaseModel):
    model_config = ConfigDict(extra="forbid", title="人证一致核验请求")
    identity_number: str = Field(description="公民身份号码（15 或 18 位，按仓库规则规范化）")
    name: str = Field(min_length=1, max_length=64, description="姓名")


class VerifyCertificateBody(BaseModel):
    model_config = ConfigDict(extra="forbid", title="电子证照核验请求")
    holder: str = Field(description="持证主体：公民身份号码或统一社会信用代码")
    certificate_type: str = Field(
        min_length=1, max_length=16, pattern=r"^[A-Z0-9_]+$", description="证照类型代码，如 CJRZ"
    )
    on_date: dt.date | None = Field(default=None, description="核验日期（默认今天）")


class VerifyEnterpriseBody(BaseModel):
    model_config = ConfigDict(extra="forbid", title="企业核验请求")
    uscc: str = Field(description="统一社会信用代码")
    name: str | None = Field(default=None, max_length=200, description="企业名称（可选）")


def result_of(status: int) -> str:
    if status < 300:
        return "allowed"
    if status == 404:
        return "not_found"
    if status in (401, 403, 413, 429):
        return "denied"
    return "error"


class SharingService:
    def __init__(
        self,
        store: Store,
        catalogue: Catalogue,
        snapshot: SnapshotReader,
        identity_key: str,
        limiter: RateLimiter,
        max_body_bytes: int,
    ):
        self.store, self.catalogue, self.snapshot = store, catalogue, snapshot
        self.identity_key, self.limiter, self.max_body_bytes = identity_key, limiter, max_body_bytes
        self.audit_writer = AuditWriter(store)
        # authenticated keys with their consumer and grants, valid while the store's registry
        # version is the one they were read at (a key issued, rotated or revoked or the grants
        # loaded again, by any process, raises it)
        self._callers: dict[str, Caller] = {}
        self._registry_version: int | None = None

    @staticmethod
    def today() -> dt.date:
        return dt.datetime.now(CITY_TIME).date()

    # --- the frame every call goes through ------------------------------------------------

    def handle(self, call: str, api_key: str | None, work: Callable) -> JSONResponse:
        """A call from a thread (the access log, which reads the audit log)."""
        for _ in range(DECIDE_AGAIN):
            audit, answer = self._outcome(call, api_key, work)
            try:
                audit["seq"] = self.audit_writer.append(audit)
            except RegistryChanged as changed:
                self._registry_changed(changed.version)
                continue
            except AuditWriteFailed as error:
                return _audit_failed(call, error)
            return self._answer(call, audit, answer)
        return _audit_failed(call, RuntimeError("the registry kept changing"))

    async def handle_async(self, call: str, api_key: str | None, work: Callable) -> JSONResponse:
        """A call in the event loop: its work is point look-ups in the snapshot (microseconds),
        done inline; only the audit commit is awaited, so that a worker holds many requests
        at once without a thread each. Decided on the keys and grants cached at the registry
        version last seen; when the commit finds the store's version has moved on, the record
        is not written and the call is decided again on the store's registry."""
        for _ in range(DECIDE_AGAIN):
            audit, answer = self._outcome(call, api_key, work)
            try:
                audit["seq"] = await self.audit_writer.append_async(audit)
            except RegistryChanged as changed:
                self._registry_changed(changed.version)
                continue
            except AuditWriteFailed as error:
                return _audit_failed(call, error)
            return self._answer(call, audit, answer)
        return _audit_failed(call, RuntimeError("the registry kept changing"))

    def _registry_changed(self, version: int | None) -> None:
        if version != self._registry_version:
            self._callers = {}
            self._registry_version = version

    def _outcome(self, call: str, api_key: str | None, work: Callable) -> tuple[dict, tuple]:
        """The call's answer (status, body, headers) and its audit record, not yet written."""
        started = time.perf_counter()
        audit: dict = {"call": call}
        headers: dict[str, str] = {}
        try:
            caller = self._authenticate(api_key, audit)
            self._limit(caller)
            status, body = 200, work(caller, audit)
        except Refusal as refusal:
            status, body, headers = refusal.status, refusal.body(), refusal.headers
            audit["detail"] = refusal.reason + (f":{refusal.field}" if refusal.field else "")
        except Exception:
            LOG.exception("sharing call %s failed", call)
            status, body = 500, {"error": "internal", "message": "服务内部错误"}
            audit["detail"] = "internal"
        audit.update(status=status, result=result_of(status))
        audit["latency_us"] = int((time.perf_counter() - started) * 1e6)
        return audit, (status, body, headers)

    @staticmethod
    def _answer(call: str, audit: dict, answer: tuple) -> JSONResponse:
        status, body, headers = answer
        LOG.info(
            "call=%s consumer=%s status=%s result=%s subject=%s latency_us=%s audit=%s",
            call,
            audit.get("consumer_id"),
            status,
            audit["result"],
            audit.get("subject"),
            audit["latency_us"],
            audit["seq"],
        )
        return JSONResponse(body, status, headers=headers)

    def _authenticate(self, api_key: str | None, audit: dict) -> Caller:
        if self._registry_version is None:  # first request, or a store without the version
            self._registry_changed(self.store.registry_version())
        version = self._registry_version
        audit[REGISTRY_VERSION_FIELD] = version  # checked when the record is committed
        caller = self._callers.get(api_key) if api_key and version is not None else None
        if caller is not None and caller.expires is not None and caller.expires <= now_text():
            caller = None  # rotated out since it was cached: asked again below
        if caller is None:
            found = self.store.authenticate_until(api_key)
            if found is None:
                raise Refusal(401, "unauthenticated", "缺少有效的 API 密钥（X-API-Key）")
            consumer, key_id, expires = found
            caller = Caller(consumer, key_id, self.store.grants_of(consumer.id), expires)
            if version is not None and api_key:
                if len(self._callers) >= CACHED_CALLERS:
                    self._callers = {}
                self._callers[api_key] = caller
        audit.update(consumer_id=caller.consumer.id, key_id=caller.key_id)
        return caller

    def _limit(self, caller: Caller) -> None:
        consumer = caller.consumer
        wait = self.limiter.retry_after(consumer.id, consumer.rate_per_second, consumer.burst)
        if wait:
            refusal = Refusal(429, "rate_limited", f"请求过于频繁，请 {wait} 秒后重试")
            refusal.headers["Retry-After"] = str(wait)
            raise refusal

    # --- pieces of the calls ----------------------------------------------------------------

    def _decide(self, caller: Caller, audit: dict, use: str, resource: str, **kwargs) -> Decision:
        requested = kwargs.pop("requested", None)
        decision = decide(
            self.catalogue, caller.grants, use, resource, requested, self.today(), **kwargs
        )
        audit["resource"] = resource if decision.resource else None
        audit["fields"] = ",".join(requested or [name for name, _ in decision.fields]) or None
        audit["grant_id"] = decision.grant.id if decision.grant else None
        audit["purpose"] = decision.purpose
        if decision.status == 422:
            raise Refusal(422, decision.reason, _REASONS[decision.reason], decision.field)
        if not decision.allowed:
            raise Refusal(403, decision.reason, _REASONS[decision.reason])
        return decision

    def _body(self, raw: bytes | None, model: type[BaseModel]) -> BaseModel:
        if raw is TOO_LARGE:
            raise Refusal(413, "body_too_large", f"请求体超过 {self.max_body_bytes} 字节")
        try:
            return model.model_validate_json(raw or b"")
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(part) for part in first.get("loc", ())) or "body"
            raise Refusal(422, "invalid_input", f"字段 {field} 无效", field) from None

    def _person(self, number: str, field: str, audit: dict) -> str:
        normalised = normalise_identity(number)
        if not is_valid_identity(normalised, self.today()):
            raise Refusal(422, "invalid_identity_number", f"{field} 不是有效的公民身份号码", field)
        audit["subject"] = person_key(self.identity_key, normalised)
        return audit["subject"]

    def _enterprise(self, uscc: str, field: str, audit: dict) -> str:
        normalised = normalise_uscc(uscc)
        if not is_valid_uscc(normalised):
            raise Refusal(422, "invalid_uscc", f"{field} 不是有效的统一社会信用代码", field)
        audit["subject"] = enterprise_key(self.identity_key, normalised)
        return audit["subject"]

    @staticmethod
    def _scope(decision: Decision, found: bool, region: str | None) -> None:
        """A district office sees its own district only; for it an absent subject is refused
        like one of another district, so the answer tells nothing of who exists elsewhere."""
        if decision.region_scope and (not found or not decision.in_scope(region)):
            raise Refusal(403, "outside_region", "该主体不在授权的行政区划范围内")

    def _subject_row(self, conn, kind: str, key: str):
        if kind == "person":
            return conn.execute(
                "SELECT region, name_digest FROM persons WHERE person_key = ?", [key]
            ).fetchone()
        return conn.execute(
            "SELECT region, entity_name, registration_status, is_registered FROM enterprises "
            "WHERE enterprise_key = ?",
            [key],
        ).fetchone()

    # --- the calls --------------------------------------------------------------------------

    def verify_identity(self, caller: Caller, audit: dict, raw: bytes | None) -> dict:
        body = self._body(raw, VerifyIdentityBody)
        decision = self._decide(caller, audit, "verify", "person_basic", subject="person")
        key = self._person(body.identity_number, "identity_number", audit)
        conn = self.snapshot.connection()
        row = self._subject_row(conn, "person", key)
        self._scope(decision, row is not None, row["region"] if row else None)
        digest = name_digest(self.identity_key, key, body.name)
        return {"consistent": bool(row and row["name_digest"] == digest)}

    def verify_certificate(self, caller: Caller, audit: dict, raw: bytes | None) -> dict:
        body = self._body(raw, VerifyCertificateBody)
        kind, key = self._holder(body.holder, audit)
        resource = f"{kind}_certificates"
        decision = self._decide(
            caller, audit, "verify", resource, certificate_type=body.certificate_type
        )
        conn = self.snapshot.connection()
        row = self._subject_row(conn, kind, key)
        self._scope(decision, row is not None, row["region"] if row else None)
        on = (body.on_date or self.today()).isoformat()
        valid = conn.execute(
            "SELECT count(*) FROM certificates WHERE holder_key = ? AND certificate_type = ? "
            "AND recorded_status = '1' AND valid_from <= ? AND (valid_to IS NULL OR valid_to >= ?)",
            [key, body.certificate_type, on, on],
        ).fetchone()[0]
        return {"valid": valid > 0}

    def _holder(self, holder: str, audit: dict) -> tuple[str, str]:
        """A holder is a person when it reads as an identity number, else an enterprise."""
        if is_valid_identity(normalise_identity(holder), self.today()):
            return "person", self._person(holder, "holder", audit)
        return "enterprise", self._enterprise(holder, "holder", audit)

    def verify_enterprise(self, caller: Caller, audit: dict, raw: bytes | None) -> dict:
        body = self._body(raw, VerifyEnterpriseBody)
        decision = self._decide(caller, audit, "verify", "enterprise_basic", subject="enterprise")
        key = self._enterprise(body.uscc, "uscc", audit)
        row = self._subject_row(self.snapshot.connection(), "enterprise", key)
        self._scope(decision, row is not None, row["region"] if row else None)
        exists = bool(row and row["is_registered"])
        name_consistent = None
        if body.name is not None:
            name_consistent = bool(exists and row["entity_name"] == body.name.strip())
        return {
            "exists": exists,
            "active": bool(exists and row["registration_status"] == "1"),
            "name_consistent": name_consistent,
        }

    def query(self, caller, audit, kind: str, number: str, resource: str, fields: str | None):
        requested = _requested_fields(fields)
        decision = self._decide(caller, audit, "query", resource, requested=requested, subject=kind)
        if kind == "person":
            key = self._person(number, "identity_number", audit)
        else:
            key = self._enterprise(number, "uscc", audit)
        conn = self.snapshot.connection()
        row = self._subject_row(conn, kind, key)
        self._scope(decision, row is not None, row["region"] if row else None)
        if row is None:
            raise Refusal(404, "not_found", "未找到该主体")
        records = self._records(conn, decision, key)
        audit["rows"] = len(records)
        if not records and decision.resource.code in ("person_basic", "enterprise_basic"):
            raise Refusal(404, "not_found", "未找到该主体")
        info = self.snapshot.info
        return {
            "resource": decision.resource.code,
            "snapshot_id": info.get("snapshot_id"),
            "as_of_date": info.get("as_of_date"),
            "records": records,
        }

    def _records(self, conn, decision: Decision, key: str) -> list[dict]:
        table = table_name(decision.resource.code)
        exists = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [table]
        ).fetchone()
        if not exists:
            return []
        rows = conn.execute(f"SELECT * FROM {table} WHERE _subject = ?", [key]).fetchall()
        types = decision.grant.certificate_types if decision.grant else ()
        return [
            shape_record(row, decision.fields) for row in rows if not types or row["_type"] in types
        ]

    def catalogue_for(self, caller: Caller, audit: dict) -> dict:
        today = self.today()
        resources = []
        for resource in self.catalogue.resources:
            grants = [g for g in caller.grants if g.resource == resource.code and g.in_force(today)]
            if not resource.shared or not (grants or resource.share_type == "无条件共享"):
                continue
            resources.append(_resource_entry(resource, grants))
        return {"resources": resources}

    def access_log(self, caller: Caller, audit: dict, number: str) -> dict:
        audit["resource"] = "access_log"
        if caller.consumer.kind != "citizen_portal":
            raise Refusal(403, "citizen_portal_only", "仅市民门户可查询数据使用记录")
        audit["purpose"] = "数据使用记录查询"
        key = self._person(number, "identity_number", audit)
        if self._subject_row(self.snapshot.connection(), "person", key) is None:
            raise Refusal(404, "not_found", "未找到该主体")
        names: dict[str, str] = {}
        entries = []
        for record in self.store.audit_records(subject=key):
            if record["result"] != "allowed" or record["call"] == "access_log":
                continue
            consumer_id = record["consumer_id"]
            if consumer_id not in names:
                consumer = self.store.consumer(consumer_id)
                names[consumer_id] = consumer.name if consumer else consumer_id
            entries.append(
                {
                    "at": record["at"],
                    "consumer": names[consumer_id],
                    "call": record["call"],
                    "resource": record["resource"],
                    "fields": record["fields"].split(",") if record["fields"] else [],
                    "purpose": record["purpose"],
                }
            )
        audit["rows"] = len(entries)
        return {"entries": entries}


def _audit_failed(call: str, error: Exception) -> JSONResponse:
    LOG.error("audit write failed, request %s not answered: %s", call, error)
    return JSONResponse(
        {"error": "audit_unavailable", "message": "审计记录写入失败，请求未执行"}, 500
    )


def shape_record(row, fields: tuple[tuple[str, bool], ...]) -> dict:
    """The granted fields of a snapshot row: the unmasked value where the grant names it."""
    keys = set(row.keys())
    shaped = {}
    for name, unmasked in fields:
        column = f"{name}__unmasked" if unmasked and f"{name}__unmasked" in keys else name
        shaped[name] = row[column] if column in keys else None
    return shaped


def _resource_entry(resource, grants) -> dict:
    granted = {f.name: f.unmasked for g in grants for f in g.fields}
    uses = sorted({use for g in grants for use in g.uses}) or ["query"]
    if grants:
        fields = [f for f in resource.fields if f.name in granted]
    else:
        fields = [f for f in resource.fields if f.level != "L4"]
    return {
        "code": resource.code,
        "name": resource.name,
        "provider": resource.provider,
        "share_type": resource.share_type,
        "update_cycle": resource.update_cycle,
        "uses": uses,
        "grants": [g.id for g in grants],
        "fields": [
            {
                "name": f.name,
                "level": f.level,
                "masked": bool(f.mask) and not granted.get(f.name, False),
            }
            for f in fields
        ],
    }


def _requested_fields(fields: str | None) -> list[str] | None:
    if fields is None:
        return None
    names = [name.strip() for name in fields.split(",")]
    if not all(names):
        raise Refusal(422, "invalid_input", "字段 fields 无效", "fields")
    return names


_REASONS = {
    "unknown_resource": "资源不存在或不适用于此调用",
    "unknown_field": "请求了目录中不存在的字段",
    "not_shared": "该资源不予共享",
    "no_grant": "无此资源的授权",
    "grant_expired": "授权已过期或尚未生效",
    "certificate_type_not_granted": "未授权核验此类证照",
    "field_not_granted": "请求的字段超出授权范围",
}


# --- the FastAPI application ------------------------------------------------------------


async def read_body(request: Request, limit: int) -> bytes | None:
    """The body, or None when it is over `limit` bytes (read no further than that)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return TOO_LARGE
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return TOO_LARGE
        chunks.append(chunk)
    return b"".join(chunks)


def _body_doc(model: type[BaseModel]) -> dict:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


ERRORS_DOC = {
    401: {"description": "缺少或无效的 API 密钥（已吊销、已轮换过期）"},
    403: {"description": "无授权：资源、字段、证照类型、行政区划或不予共享（在任何查询之前判定）"},
    413: {"description": "请求体过大"},
    422: {"description": "输入无效（响应中 field 指明字段），如身份证号码不合法"},
    429: {"description": "超过调用频率限制（见 Retry-After）"},
    500: {"description": "审计记录写入失败等内部错误：不返回任何数据"},
}


def build_app(service: SharingService) -> FastAPI:
    app = FastAPI(
        title="政务数据共享服务",
        version="1.0",
        docs_url=None,  # /docs below serves Swagger UI from sharing/static
        description=(
            "数据多跑路，群众少跑腿：核验（只答是/否）、查询（授权字段，按级别脱敏）、"
            "资源目录与市民数据使用记录。每次调用均在应答前写入防篡改审计日志。"
            "认证：请求头 X-API-Key。"
        ),
    )
    app.state.service = service
    limit = service.max_body_bytes
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="政务数据共享服务 · 接口文档",
            swagger_js_url="/static/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui.css",
            swagger_favicon_url="data:,",
        )

    @app.post(
        "/v1/verify/identity",
        summary="人证一致核验",
        description="身份证号码是否存在于人口库且属于该姓名。只返回 consistent，不返回任何数据。",
        openapi_extra=_body_doc(VerifyIdentityBody),
        responses=ERRORS_DOC,
        tags=["核验"],
    )
    async def verify_identity(request: Request):
        raw = await read_body(request, limit)
        key = request.headers.get(KEY_HEADER)
        return await service.handle_async(
            "verify_identity", key, lambda c, a: service.verify_identity(c, a, raw)
        )

    @app.post(
        "/v1/verify/certificate",
        summary="电子证照有效性核验",
        description="持证主体的某类证照在指定日期是否有效（状态有效、有效期内）。只返回 valid。",
        openapi_extra=_body_doc(VerifyCertificateBody),
        responses=ERRORS_DOC,
        tags=["核验"],
    )
    async def verify_certificate(request: Request):
        raw = await read_body(request, limit)
        key = request.headers.get(KEY_HEADER)
        return await service.handle_async(
            "verify_certificate",
            key,
            lambda c, a: service.verify_certificate(c, a, raw),
        )

    @app.post(
        "/v1/verify/enterprise",
        summary="企业核验",
        description="企业是否存在、是否存续、名称是否一致。",
        openapi_extra=_body_doc(VerifyEnterpriseBody),
        responses=ERRORS_DOC,
        tags=["核验"],
    )
    async def verify_enterprise(request: Request):
        raw = await read_body(request, limit)
        key = request.headers.get(KEY_HEADER)
        return await service.handle_async(
            "verify_enterprise",
            key,
            lambda c, a: service.verify_enterprise(c, a, raw),
        )

    @app.get(
        "/v1/persons/{identity_number}",
        summary="查询个人信息（一人一档）",
        description="返回授权字段；L3 字段按发布集市的规则脱敏，除非授权注明不脱敏。",
        responses={**ERRORS_DOC, 404: {"description": "未找到该人员"}},
        tags=["查询"],
    )
    async def person(
        request: Request,
        identity_number: str = Path(description="公民身份号码"),
        resource: str = Query("person_basic", description="资源代码，见 /v1/catalogue"),
        fields: str | None = Query(None, description="字段，逗号分隔（默认：全部授权字段）"),
    ):
        key = request.headers.get(KEY_HEADER)
        return await service.handle_async(
            "query_person",
            key,
            lambda c, a: service.query(c, a, "person", identity_number, resource, fields),
        )

    @app.get(
        "/v1/enterprises/{uscc}",
        summary="查询企业信息（一企一档）",
        description="返回授权字段，规则同个人查询。",
        responses={**ERRORS_DOC, 404: {"description": "未找到该企业"}},
        tags=["查询"],
    )
    async def enterprise(
        request: Request,
        uscc: str = Path(description="统一社会信用代码"),
        resource: str = Query("enterprise_basic", description="资源代码，见 /v1/catalogue"),
        fields: str | None = Query(None, description="字段，逗号分隔（默认：全部授权字段）"),
    ):
        key = request.headers.get(KEY_HEADER)
        return await service.handle_async(
            "query_enterprise",
            key,
            lambda c, a: service.query(c, a, "enterprise", uscc, resource, fields),
        )

    @app.get(
        "/v1/catalogue",
        summary="资源目录",
        description="本调用方可使用的资源，含字段、级别、共享类型与是否脱敏。",
        responses=ERRORS_DOC,
        tags=["目录"],
    )
    async def catalogue(request: Request):
        key = request.headers.get(KEY_HEADER)
        return await service.handle_async("catalogue", key, service.catalogue_for)

    @app.get(
        "/v1/persons/{identity_number}/access-log",
        summary="数据使用记录（市民门户专用）",
        description="谁在何时、通过哪个调用、为何用途使用了该人员的数据。",
        responses={**ERRORS_DOC, 404: {"description": "未找到该人员"}},
        tags=["市民"],
    )
    async def access_log(request: Request, identity_number: str = Path(description="公民身份号码")):
        key = request.headers.get(KEY_HEADER)
        return await run_in_threadpool(
            service.handle,
            "access_log",
            key,
            lambda c, a: service.access_log(c, a, identity_number),
        )

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            schema.setdefault("components", {})["securitySchemes"] = {
                "ApiKey": {"type": "apiKey", "in": "header", "name": KEY_HEADER}
            }
            schema["security"] = [{"ApiKey": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
    return app


def create_app() -> FastAPI:
    """The application as uvicorn's workers build it (factory), from the settings."""
    from groundfloor.settings import identity_key, sharing_settings
    from sharing.catalogue import load_catalogue

    settings = sharing_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    service = SharingService(
        store=Store(settings.store_url),
        catalogue=load_catalogue(),
        snapshot=SnapshotReader(settings.snapshot),
        identity_key=identity_key(),
        limiter=RateLimiter(settings.rate_per_second, settings.burst),
        max_body_bytes=settings.max_body_bytes,
    )
    return build_app(service)
