"""Settings of the telemetry service (environment prefix ``QD_TELEMETRY_``).

Each area keeps its settings in its own section below."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.config import ServiceSettings


class TelemetrySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="QD_TELEMETRY_", extra="ignore", frozen=True)

    service_name: ClassVar[str] = "telemetry"
    port: int = 50055
    tenancy_target: str | None = Field(
        default=None,
        description="host:port of the tenancy service, whose PriceUsage prices usage rows.",
    )

    # --- usage ---
    usage_retention_days: int = Field(
        default=400, ge=1, description="Days agent_telemetry rows are kept, by their timestamp."
    )
    price_cache_seconds: float = Field(
        default=300.0,
        ge=0,
        description="How long tenancy's model and price rows are reused to price usage rows "
        "locally; a price change reaches rows recorded after it within this time.",
    )
    usage_max_batch_rows: int = Field(
        default=1000, ge=1, description="Most rows one RecordUsageBatch (or stream message) takes."
    )

    # --- traces and retention ---
    otlp_unauthenticated_export: bool = Field(
        default=False,
        description="Store spans exported with no credential, as the platform's own. Only for "
        "a receiver that nothing but the platform's processes can reach; by default Export "
        "needs an internal token or a tenant key with the telemetry:ingest scope.",
    )
    otlp_api_key_cache_seconds: float = Field(
        default=60.0,
        ge=0,
        description="How long the access token an exporter's API key was exchanged for is "
        "reused, at most.",
    )
    otlp_spool_max_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=0,
        description="Export answers once the request is appended to a local spool, and a "
        "background job stores the spans; past this many bytes not yet stored, Export answers "
        "RESOURCE_EXHAUSTED with a retry delay. 0: no spool, Export stores before answering.",
    )
    otlp_spool_dir: Path | None = Field(
        default=None,
        description="Where the spool files are; default <data_dir>/telemetry-spool/<a digest "
        "of the database URL>. Processes sharing it must share the database: at start each takes "
        "over the files no live process holds.",
    )
    otlp_spool_fsync_seconds: float = Field(
        default=0.2,
        ge=0,
        description="Each accepted export is written to the OS before the answer (a killed "
        "process loses nothing) and fsynced in the background at most this long after (a power "
        "cut loses at most this much of what was answered). 0: fsynced before each answer (one "
        "fsync for the exports in flight), at the cost of an fsync per export.",
    )
    otlp_spool_interval_seconds: float = Field(
        default=1.0,
        gt=0,
        description="How often the spool is checked for exports to store when no export woke "
        "the storing job (each accepted export wakes it at once).",
    )
    spans_retention_days: int = Field(
        default=30, ge=0, description="Days the spans table keeps a span (by start); 0 keeps all."
    )
    retention_interval_seconds: float = Field(
        default=3600.0,
        ge=0,
        description="Seconds between background retention passes; 0 runs none (RunRetention "
        "still works).",
    )
    retention_batch_size: int = Field(
        default=1000,
        ge=1,
        le=100_000,
        description="Rows deleted per transaction, so a pass never holds locks for long.",
    )

    # --- metrics, requests, tool usage ---
    metrics_retention_days: int = Field(
        default=90, ge=1, description="How long agent_metrics keeps a point, in days."
    )
    requests_retention_days: int = Field(
        default=30, ge=1, description="How long agent_requests keeps a request, in days."
    )
    tool_usage_retention_days: int = Field(
        default=90, ge=1, description="How long mcp_tool_usage keeps a tool call, in days."
    )

    # --- activity ---
    activity_retention_days: int = Field(
        default=180, ge=1, description="How many days activity events (and receipts) are kept."
    )
    activity_unread_count_cap: int = Field(
        default=1000,
        ge=1,
        le=100_000,
        description="GetUnreadCount stops counting here and reports the count as capped.",
    )

    # --- status subscriptions ---
    # Secrets are plain strings kept out of repr (SecretStr would need an import outside this
    # section); status subscription RPCs refuse (FAILED_PRECONDITION) while either is unset.
    status_encryption_keys: str | None = Field(
        default=None,
        repr=False,
        description="Fernet keys, comma-separated: the first encrypts subscription targets, "
        "webhook secrets and unsubscribe tokens, every one decrypts, so keys rotate.",
    )
    status_hashing_key: str | None = Field(
        default=None,
        min_length=16,
        repr=False,
        description="Keys the HMAC-SHA256 of targets (duplicate detection) and of tokens.",
    )
    status_verification_ttl_seconds: int = Field(
        default=86400,
        ge=60,
        le=30 * 86400,
        description="How long a verification or challenge token verifies its subscription.",
    )
    status_email_sender: str = Field(
        default="log",
        pattern="^(log|smtp)$",
        description="How email subscriptions are delivered: log (no email leaves the process) "
        "or smtp (the status_smtp_* settings).",
    )
    status_webhook_sender: str = Field(
        default="log",
        pattern="^(log|webhook)$",
        description="How webhook subscriptions are delivered: log, or webhook (a signed HTTPS "
        "POST, no redirects followed).",
    )
    status_log_reveals_tokens: bool = Field(
        default=False,
        description="Whether the log sender writes verification and unsubscribe tokens in "
        "clear, so a developer reading the log can act as the recipient. Local use only.",
    )
    status_link_base_url: str = Field(
        default="http://127.0.0.1:8080",
        description="Where recipients' verification and unsubscribe links point (the gateway "
        "or the web app in front of it).",
    )
    status_webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    status_webhook_allow_http: bool = Field(
        default=False, description="Accept http:// webhook URLs (tests and local use only)."
    )
    status_webhook_allow_private_hosts: bool = Field(
        default=False,
        description="Accept webhooks on loopback, private and link-local addresses (tests and "
        "local use only).",
    )
    status_max_live_subscriptions: int = Field(
        default=1000,
        ge=1,
        description="Most subscriptions not revoked that one tenant (or the platform) may have; "
        "each create sends a message to a target of the caller's choosing.",
    )
    status_delivery_concurrency: int = Field(
        default=8, ge=1, le=128, description="Deliveries one NotifyStatus runs at the same time."
    )
    status_smtp_host: str = Field(default="127.0.0.1", description="The SMTP relay's host.")
    status_smtp_port: int = Field(default=25, ge=1, le=65535)
    status_smtp_from: str = Field(
        default="Quarterdeck Status <status@quarterdeck.invalid>",
        description="The From header of status emails.",
    )
    status_smtp_starttls: bool = Field(
        default=False, description="Upgrade the SMTP connection with STARTTLS before sending."
    )
    status_smtp_username: str | None = Field(default=None, description="SMTP login, if any.")
    status_smtp_password: str | None = Field(default=None, repr=False)
    status_smtp_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
