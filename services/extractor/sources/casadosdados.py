"""Casa dos Dados API (``casadosdados``): v5 search with paging, or the bulk export for big hunts.

``casadosdados`` picks the mode: search when ``filters.limit`` is set and at most
``SEARCH_MAX`` (1000), export otherwise. ``casadosdados?mode=search|export&page_size=N`` forces it.

Export: v5 create file -> v4 list requests until ``processado`` -> v4 public link (202 while
processing) -> download -> import the CSV. Polls use bounded exponential backoff
(``casa_poll_backoff_seconds`` doubling, at most ``casa_poll_max_attempts`` polls per step). A 429
is retried after ``Retry-After`` (or the backoff); 401 and 403 raise ``SourceError``.
Every HTTP call is reported through ``on_api_call``; results are cached on disk by query
fingerprint for ``cache_ttl_hours`` (a hit reports one call with ``cache_hit=True``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx

from shared.config import Settings
from shared.events import RunFilters, SourceExportUpdated
from shared.schemas import ApiCall, CompanyRecord, DroppedLead

from .casadosdados_cache import ResultCache, fingerprint
from .casadosdados_records import company_from_search, search_body
from .csv_source import CsvOptions, iter_csv
from .errors import SourceError

SERVICE = "casadosdados"
SEARCH_MAX = 1000
SEARCH_PATH = "/v5/cnpj/pesquisa"
EXPORT_PATH = "/v5/cnpj/pesquisa/arquivo"
EXPORT_LIST_PATH = "/v4/cnpj/pesquisa/arquivo"
EXPORT_LINK_PATH = "/v4/public/cnpj/pesquisa/arquivo/{uuid}"
MAX_BACKOFF_SECONDS = 60.0
_LIST_PAGES = 5

ApiCallSink = Callable[[ApiCall], None]
ExportSink = Callable[[SourceExportUpdated], None]  # hears an export request's status at each change


def parse_spec(spec: str) -> tuple[str | None, int]:
    """``casadosdados[?mode=search|export&page_size=N]`` -> (mode or None for auto, page size)."""
    _, _, query = spec.partition("?")
    mode: str | None = None
    page_size = SEARCH_MAX
    for key, value in parse_qsl(query):
        if key == "mode" and value in ("search", "export"):
            mode = value
        elif key == "page_size" and value.isdigit() and int(value) > 0:
            page_size = min(int(value), SEARCH_MAX)
        else:
            raise SourceError(f"casadosdados: unknown option {key}={value!r} (mode=search|export, page_size=N)")
    return mode, page_size


class CasaClient:
    """The HTTP side: auth header, retries on 429/5xx, error mapping, call reporting."""

    def __init__(self, settings: Settings, on_api_call: ApiCallSink | None, *, transport: Any = None) -> None:
        if not settings.casa_api_key:
            raise SourceError("casadosdados: no API key; set CASA_DOS_DADOS_API_KEY or save it on the Config page")
        self.settings = settings
        self.report = on_api_call or (lambda call: None)
        self.http = httpx.Client(
            base_url=settings.casa_base_url,
            headers={"api-key": settings.casa_api_key, "accept": "application/json"},
            timeout=httpx.Timeout(60.0, connect=10.0),
            transport=transport,
        )

    def close(self) -> None:
        self.http.close()

    def backoff(self, attempt: int) -> float:
        return min(self.settings.casa_poll_backoff_seconds * (2**attempt), MAX_BACKOFF_SECONDS)

    def _retry_after(self, response: httpx.Response, attempt: int) -> float:
        header = response.headers.get("retry-after", "")
        try:
            return min(max(float(header), 0.0), MAX_BACKOFF_SECONDS)
        except ValueError:
            return self.backoff(attempt)

    def call(self, method: str, path: str, *, ok: tuple[int, ...] = (200,), **kwargs: Any) -> httpx.Response:
        """One logical call; retried on 429, 5xx and transport errors, within the attempt budget."""
        attempts = max(self.settings.casa_poll_max_attempts, 1)
        endpoint = urlsplit(path).path or path
        for attempt in range(attempts):
            started = time.perf_counter()
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                self._report(endpoint, method, None, started, 0, error=f"{type(exc).__name__}: {exc}")
                if attempt + 1 >= attempts:
                    raise SourceError(f"casadosdados: {method} {endpoint} failed: {exc}") from exc
                time.sleep(self.backoff(attempt))
                continue
            status = response.status_code
            self._report(endpoint, method, status, started, len(response.content),
                         error=None if status in ok else response.text[:200])
            if status in ok:
                return response
            if status == 401:
                raise SourceError("casadosdados: API key refused (401); check CASA_DOS_DADOS_API_KEY "
                                  "or the key saved on the Config page")
            if status == 403:
                raise SourceError(
                    f"casadosdados: Sem saldo para a operação (403): no balance left ({_message(response)})"
                )
            if status == 429 or status >= 500:
                if attempt + 1 >= attempts:
                    break
                time.sleep(self._retry_after(response, attempt) if status == 429 else self.backoff(attempt))
                continue
            raise SourceError(f"casadosdados: {method} {endpoint} -> HTTP {status}: {_message(response)}")
        raise SourceError(f"casadosdados: {method} {endpoint} still failing after {attempts} attempts")

    def download(self, url: str, target: Path) -> Path:
        """Stream a (pre-signed) export link to ``target``; the key is only sent to the API host."""
        absolute = urljoin(str(self.http.base_url), url)
        same_host = urlsplit(absolute).netloc == self.http.base_url.netloc
        started = time.perf_counter()
        size = 0
        target.parent.mkdir(parents=True, exist_ok=True)
        stream = self.http.stream("GET", absolute) if same_host else httpx.stream("GET", absolute, timeout=60.0)
        with stream as response:
            if response.status_code != 200:
                self._report(urlsplit(absolute).path, "GET", response.status_code, started, 0, error="download")
                raise SourceError(f"casadosdados: export download -> HTTP {response.status_code}")
            with target.open("wb") as fh:
                for block in response.iter_bytes(1 << 16):
                    fh.write(block)
                    size += len(block)
        self._report(urlsplit(absolute).path, "GET", 200, started, size)
        return target

    def _report(self, endpoint: str, method: str, status: int | None, started: float, size: int,
                *, error: str | None = None, cache_hit: bool = False) -> None:
        self.report(ApiCall(
            service=SERVICE, endpoint=endpoint, method=method, status=status,
            latency_ms=round((time.perf_counter() - started) * 1000.0, 3), bytes=size,
            cache_hit=cache_hit, error=error,
        ))


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("mensagem") or body.get("message") or body.get("detail") or body)[:200]
    return str(body)[:200]


def _search(client: CasaClient, body: dict[str, Any], limit: int | None, page_size: int) -> Iterator[CompanyRecord]:
    emitted = 0
    page = 1
    size = page_size if limit is None else min(page_size, limit)  # fixed: pages are pagina x limite
    while True:
        response = client.call(
            "POST", SEARCH_PATH, params={"tipo_resultado": "completo"}, json={**body, "limite": size, "pagina": page}
        )
        data = response.json()
        items = data.get("cnpjs") or []
        total = data.get("total")
        for item in items:
            rec = company_from_search(item)
            if rec is None:
                continue
            yield rec
            emitted += 1
            if limit is not None and emitted >= limit:
                return
        seen = (page - 1) * size + len(items)
        if len(items) < size or (isinstance(total, int) and seen >= total):
            return
        page += 1


def _poll_export(client: CasaClient, uuid: str, seen: Callable[[str, int | None], None]) -> str:
    """Wait until the export is processed (``seen`` hears each status listed); return its download link."""
    attempts = max(client.settings.casa_poll_max_attempts, 1)
    for attempt in range(attempts):
        status = None
        for page in range(1, _LIST_PAGES + 1):
            listing = client.call("GET", EXPORT_LIST_PATH, params={"pagina": page}).json()
            entries = listing if isinstance(listing, list) else listing.get("arquivos", [])
            match = next((e for e in entries if e.get("arquivo_uuid") == uuid), None)
            if match is not None:
                status = match.get("status")
                rows = match.get("quantidade")
                seen(str(status), rows if isinstance(rows, int) else None)
                break
            if not entries:
                break
        if status == "processado":
            break
        if attempt + 1 >= attempts:
            raise SourceError(f"casadosdados: export {uuid} not processed after {attempts} polls (last: {status})")
        time.sleep(client.backoff(attempt))
    for attempt in range(attempts):
        response = client.call("GET", EXPORT_LINK_PATH.format(uuid=uuid), ok=(200, 202))
        if response.status_code == 200:
            link = response.json().get("link")
            if not link:
                raise SourceError(f"casadosdados: export {uuid} link response has no link")
            return str(link)
        if attempt + 1 < attempts:
            time.sleep(client.backoff(attempt))
    raise SourceError(f"casadosdados: export {uuid} link still not ready (202) after {attempts} polls")


def _export(client: CasaClient, body: dict[str, Any], limit: int | None, key: str,
            work_dir: Path, on_export: ExportSink) -> Iterator[CompanyRecord | DroppedLead]:
    name = f"hunter-{key[:16]}"
    created = client.call("POST", EXPORT_PATH, json={
        "total_linhas": limit or 0, "nome": name, "tipo": "csv", "enviar_para": [],
        "pesquisa": body,
    }).json()
    uuid = created.get("arquivo_uuid")
    if not uuid:
        raise SourceError(f"casadosdados: export not created: {created.get('mensagem') or created}")
    last: dict[str, Any] = {}

    def seen(status: str, rows: int | None = None, message: str = "") -> None:
        now = {"status": status, "rows": rows if rows is not None else last.get("rows"), "message": message}
        if now != last:
            last.update(now)
            on_export(SourceExportUpdated(provider=SERVICE, request_id=str(uuid), name=name, **now))

    seen("requested", message=str(created.get("mensagem") or ""))
    try:
        link = _poll_export(client, uuid, seen)
        target = client.download(link, work_dir / f"{key}.export.csv")
    except SourceError as exc:
        seen("failed", message=str(exc)[:500])
        raise
    seen("downloaded")
    try:
        yield from iter_csv(
            target, RunFilters(status=["*"], limit=limit), options=CsvOptions(source_name=SERVICE, country="BR")
        )
    finally:
        target.unlink(missing_ok=True)


def iter_casadosdados(
    spec: str,
    filters: RunFilters,
    *,
    settings: Settings,
    on_api_call: ApiCallSink | None = None,
    on_export: ExportSink | None = None,
    transport: Any = None,
) -> Iterator[CompanyRecord | DroppedLead]:
    """Leads from Casa dos Dados for ``filters``, at most ``filters.limit``, cached on disk; an export
    request's status changes go to ``on_export``."""
    mode, page_size = parse_spec(spec)
    limit = filters.limit
    if limit == 0:
        return
    if mode is None:
        mode = "search" if limit is not None and limit <= SEARCH_MAX else "export"
    body = search_body(filters)
    key = fingerprint({"v": 1, "mode": mode, "query": body, "limit": limit, "page_size": page_size})
    cache = ResultCache(settings.data_dir / "cache" / "casadosdados", settings.cache_ttl_hours)
    hit = cache.fresh(key)
    if hit is not None:
        if on_api_call is not None:
            on_api_call(ApiCall(service=SERVICE, endpoint=SEARCH_PATH if mode == "search" else EXPORT_PATH,
                                method="POST", status=200, bytes=hit.stat().st_size, cache_hit=True))
        yield from ResultCache.read(hit)
        return
    client = CasaClient(settings, on_api_call, transport=transport)
    writer = cache.writer(key)
    try:
        items = (
            _search(client, body, limit, page_size) if mode == "search"
            else _export(client, body, limit, key, cache.directory, on_export or (lambda update: None))
        )
        for item in items:
            writer.add(item)
            yield item
        writer.commit()
    finally:
        writer.discard()
        client.close()
