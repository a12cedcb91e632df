"""Settings from the environment (or a ``.env`` file). One object, read once per process."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # bus
    nats_url: str | None = Field(default=None, alias="NATS_URL")
    stream_name: str = Field(default="HUNTER", alias="HUNTER_STREAM")
    # copies of the stream on a JetStream cluster (3: it survives the loss of a node); 1 on a single server
    stream_replicas: int = Field(default=1, alias="HUNTER_STREAM_REPLICAS")
    dedup_window_seconds: int = Field(default=3600, alias="HUNTER_DEDUP_WINDOW_SECONDS")
    ack_wait_seconds: float = Field(default=30.0, alias="HUNTER_ACK_WAIT")
    data_dir: Path = Field(default=Path(".hunter"), alias="HUNTER_DATA_DIR")
    # who this client is to NATS and how it checks the server (shared/nats_security.py; an embedded server's
    # own are set by nats_for): a .creds or NKey seed file, or user and password; TLS with a CA / client cert
    nats_creds: str | None = Field(default=None, alias="NATS_CREDS")
    nats_user: str | None = Field(default=None, alias="NATS_USER")
    nats_password: str | None = Field(default=None, alias="NATS_PASSWORD", repr=False)
    nats_tls_ca: str | None = Field(default=None, alias="NATS_TLS_CA")
    nats_tls_cert: str | None = Field(default=None, alias="NATS_TLS_CERT")
    nats_tls_key: str | None = Field(default=None, alias="NATS_TLS_KEY")
    # the embedded server (no NATS_URL) speaks TLS only, with a CA made in the data dir (hunter up --nats-tls)
    nats_tls_embedded: bool = Field(default=False, alias="HUNTER_NATS_TLS")

    # vault
    vault_url: str | None = Field(default=None, alias="HUNTER_VAULT_URL")
    projector_batch: int = Field(default=5000, alias="HUNTER_PROJECTOR_BATCH")

    # extract / clean / score
    batch_size: int = Field(default=1000, alias="HUNTER_BATCH_SIZE")  # leads per batch event (bench: 500 vs 1000)
    # processes joining a national cnpj import (0: one per CPU, at most 4)
    extract_workers: int = Field(default=0, alias="HUNTER_EXTRACT_WORKERS")
    repeated_phone_threshold: int = Field(default=3, alias="REPEATED_PHONE_THRESHOLD")
    # leads of a run the cleaner and the scorer keep in memory; a bigger run goes to disk (shared/run_spill.py)
    spill_leads: int = Field(default=25_000, alias="HUNTER_SPILL_LEADS")
    icp_dir: Path | None = Field(default=None, alias="HUNTER_ICP_DIR")
    # a registry source a lead added by hand is looked up in (cnpj:DIR, sirene:PATH, csv:PATH); unset: as typed
    manual_lookup: str | None = Field(default=None, alias="HUNTER_MANUAL_LOOKUP")
    # where registry files (CNPJ folders, SIRENE files, CSVs) are put for the Mission page's source picker
    imports_dir: Path | None = Field(default=None, alias="HUNTER_IMPORTS_DIR")

    # ranking learned from outcomes (services/ranker): below the minimum, the ICP score ranks
    ranker_min_labels: int = Field(default=30, alias="RANKER_MIN_LABELS")
    ranker_retrain_every: int = Field(default=30, alias="RANKER_RETRAIN_EVERY")  # new outcomes that trigger a training
    ranker_no_reply_days: float = Field(default=21.0, alias="RANKER_NO_REPLY_DAYS")  # contacted, no reply: negative
    ranker_explore_share: float = Field(default=0.2, alias="RANKER_EXPLORE_SHARE")  # of the next-leads list

    # qualification (services/qualifier): rules offline; an OpenAI-compatible chat endpoint when LLM_BASE_URL is set
    llm_base_url: str | None = Field(default=None, alias="LLM_BASE_URL")  # e.g. http://localhost:11434/v1 (Ollama)
    llm_model: str | None = Field(default=None, alias="LLM_MODEL")
    llm_api_key: str | None = Field(default=None, alias="LLM_API_KEY", repr=False)
    llm_min_score: int = Field(default=60, alias="LLM_MIN_SCORE")  # rule-based score from which the LLM is asked
    llm_run_token_budget: int = Field(default=200_000, alias="LLM_RUN_TOKEN_BUDGET")  # tokens per run
    llm_timeout_s: float = Field(default=60.0, alias="LLM_TIMEOUT_S")  # one call's whole time
    llm_max_retry_after_s: float = Field(default=30.0, alias="LLM_MAX_RETRY_AFTER_S")  # longest 429 wait honoured

    # Casa dos Dados
    casa_api_key: str | None = Field(default=None, alias="CASA_DOS_DADOS_API_KEY")
    casa_base_url: str = Field(default="https://api.casadosdados.com.br", alias="CASA_DOS_DADOS_BASE_URL")
    casa_poll_max_attempts: int = Field(default=10, alias="CASA_EXPORT_POLL_MAX_ATTEMPTS")
    casa_poll_backoff_seconds: float = Field(default=2.0, alias="CASA_EXPORT_POLL_BACKOFF_SECONDS")

    # enrichment
    http_proxy: str | None = Field(default=None, alias="HUNTER_HTTP_PROXY")
    search_base_url: str | None = Field(default=None, alias="SEARCH_BASE_URL")
    serper_api_key: str | None = Field(default=None, alias="SERPER_API_KEY")
    cache_ttl_hours: float = Field(default=168.0, alias="CACHE_TTL_HOURS")
    fetch_concurrency: int = Field(default=200, alias="FETCH_CONCURRENCY")
    fetch_per_host: int = Field(default=2, alias="FETCH_PER_HOST")
    # minimum spacing between the starts of requests to one host (robots.txt's Crawl-delay when longer),
    # and the longest such wait a request accepts (past it the page is not fetched)
    fetch_host_interval_ms: float = Field(default=0.0, alias="FETCH_HOST_INTERVAL_MS")
    fetch_max_crawl_delay: float = Field(default=10.0, alias="FETCH_MAX_CRAWL_DELAY")
    fetch_connect_timeout: float = Field(default=5.0, alias="FETCH_CONNECT_TIMEOUT")
    fetch_read_timeout: float = Field(default=10.0, alias="FETCH_READ_TIMEOUT")
    fetch_retries: int = Field(default=2, alias="FETCH_RETRIES")
    fetch_max_bytes: int = Field(default=2_000_000, alias="FETCH_MAX_BYTES")
    fetch_max_redirects: int = Field(default=5, alias="FETCH_MAX_REDIRECTS")
    # networks the enricher may fetch from beyond the public Internet (CIDRs, e.g. "127.0.0.0/8,::1/128" for a
    # web farm on loopback); private, loopback, link-local, metadata... addresses are refused otherwise
    fetch_allow_networks: str = Field(default="", alias="FETCH_ALLOW_NETWORKS")
    # a request's whole time (connect, head and body) and a lead's (every request of it), in seconds
    fetch_request_deadline_s: float = Field(default=30.0, alias="FETCH_REQUEST_DEADLINE_S")
    enrich_lead_deadline_s: float = Field(default=120.0, alias="ENRICH_LEAD_DEADLINE_S")
    fetch_schemes: str = Field(default="https,http", alias="FETCH_SCHEMES")
    fetch_pages_per_site: int = Field(default=3, alias="FETCH_PAGES_PER_SITE")
    # "always": the contact/about pages too, for the contacts found only there; "missing": only while
    # the homepage lacks an e-mail or a phone (a request or two fewer per site, fewer contacts)
    fetch_contact_pages: Literal["always", "missing"] = Field(default="always", alias="FETCH_CONTACT_PAGES")
    user_agent: str = Field(default="HunterBot/0.1 (+https://github.com/hunter)", alias="HUNTER_USER_AGENT")
    run_budget_requests: int = Field(default=100_000, alias="RUN_BUDGET_REQUESTS")
    run_budget_bytes: int = Field(default=2_000_000_000, alias="RUN_BUDGET_BYTES")
    run_budget_seconds: float = Field(default=3600.0, alias="RUN_BUDGET_SECONDS")
    # how often enricher replicas tell each other what they spent per run (budgets are per run, not per replica)
    budget_share_seconds: float = Field(default=0.5, alias="ENRICHER_BUDGET_SHARE_SECONDS")
    enricher_concurrency: int = Field(default=64, alias="ENRICHER_CONCURRENCY")
    # processes reading pages for each enricher replica (unset: one when the machine has two cores per replica)
    enricher_page_workers: int | None = Field(default=None, alias="ENRICHER_PAGE_WORKERS")
    # enricher replicas sharing this machine's cores (``hunter up`` and the compose file set it)
    enricher_replicas_per_host: int = Field(default=1, alias="ENRICHER_REPLICAS_PER_HOST")
    fingerprints_path: str | None = Field(default=None, alias="HUNTER_FINGERPRINTS")
    enable_playwright: bool = Field(default=False, alias="ENABLE_PLAYWRIGHT")
    playwright_timeout_ms: int = Field(default=15_000, alias="PLAYWRIGHT_TIMEOUT_MS")
    chromium_path: str = Field(default="/usr/bin/chromium", alias="CHROMIUM_PATH")

    # export
    export_dir: Path | None = Field(default=None, alias="HUNTER_EXPORT_DIR")
    max_export_rows: int = Field(default=1_000_000, alias="MAX_EXPORT_ROWS")

    # gateway
    gateway_host: str = Field(default="127.0.0.1", alias="GATEWAY_HOST")
    gateway_port: int = Field(default=8080, alias="GATEWAY_PORT")
    basic_auth_user: str | None = Field(default=None, alias="BASIC_AUTH_USER")
    basic_auth_pass: str | None = Field(default=None, alias="BASIC_AUTH_PASS")
    # Fernet key sealing the secrets saved on the Config page (shared/secrets.py); hunter up makes one per data dir
    secret_key: str | None = Field(default=None, alias="HUNTER_SECRET_KEY", repr=False)
    production: bool = Field(default=False, alias="HUNTER_PRODUCTION")
    # origins allowed to send writes besides the gateway's own (comma-separated, e.g. https://hunter.example)
    trusted_origins: str = Field(default="", alias="GATEWAY_TRUSTED_ORIGINS")
    # names a request's Host may carry besides localhost and IP addresses (comma-separated; "*.example.com" for
    # its subdomains, "*" for any): other names are refused with 421, as a DNS-rebinding page's would be
    allowed_hosts: str = Field(default="", alias="HUNTER_ALLOWED_HOSTS")
    max_upload_bytes: int = Field(default=200 * 1024 * 1024, alias="MAX_UPLOAD_BYTES")  # Recovery page CSVs
    # uvicorn processes serving the gateway, and the threads each runs vault queries on (off the event loop)
    gateway_workers: int = Field(default=1, ge=1, alias="GATEWAY_WORKERS")
    gateway_threads: int = Field(default=8, ge=1, alias="GATEWAY_THREADS")

    # logging / tracing
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")
    service_name: str = Field(default="hunter", alias="OTEL_SERVICE_NAME")

    @property
    def vault_database_url(self) -> str:
        if self.vault_url:
            return self.vault_url
        return f"sqlite:///{(self.data_dir / 'vault.db').resolve()}"

    @property
    def imports_path(self) -> Path:
        return (self.imports_dir or self.data_dir / "imports").resolve()

    @property
    def exports_path(self) -> Path:
        return (self.export_dir or self.data_dir / "exports").resolve()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
