"""The one configuration object. Environment variables are read here and nowhere else.

Every value can be set as ``TECWATCH_<SECTION>__<NAME>``, e.g. ``TECWATCH_BROKER__PORT=1883``
or ``TECWATCH_STORE__BACKEND=influxdb``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class BrokerSettings(BaseModel):
    """The platform MQTT broker that gateways publish to."""

    # "embedded" starts an in-process broker (amqtt) on host:port; "external" connects to one.
    mode: Literal["embedded", "external"] = "embedded"
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    # 3.1.1 works everywhere (the embedded broker speaks nothing newer); 5 with Mosquitto/EMQX.
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    username: str | None = "tecwatch-ingest"
    password: SecretStr | None = None
    tls: bool = False
    tls_ca_file: Path | None = None
    keepalive_s: int = Field(30, ge=5)
    reconnect_min_s: float = Field(1.0, gt=0)
    reconnect_max_s: float = Field(60.0, gt=0)
    # How long the broker keeps a disconnected ingest session (MQTT 5 session expiry).
    session_expiry_s: int = Field(7 * 24 * 3600, ge=0)
    # Mosquitto's password and ACL files, as `tecwatch provision-gateway` writes them.
    passwd_file: Path = Path("deploy/mosquitto/passwd")
    acl_file: Path = Path("deploy/mosquitto/acl")

    @model_validator(mode="after")
    def _embedded_speaks_311(self) -> BrokerSettings:
        if self.mode == "embedded" and self.protocol == "5":
            raise ValueError("the embedded broker speaks MQTT 3.1.1 only; use protocol 3.1.1 or an external broker")
        return self


class StoreSettings(BaseModel):
    """The time-series store for readings and events."""

    backend: Literal["sqlite", "influxdb"] = "sqlite"
    sqlite_path: Path = Path("tecwatch-data/readings.db")
    influx_url: str = "http://127.0.0.1:8086"
    # InfluxDB 1.x database, or the 2.x/3.x bucket.
    influx_database: str = "tecwatch"
    influx_username: str | None = None
    influx_password: SecretStr | None = None
    influx_token: SecretStr | None = None
    influx_org: str | None = None
    influx_timeout_s: float = Field(10.0, gt=0)
    # Readings older than this are deleted nightly (the alert engine's job). Keep it past the
    # learning window (28 days) and what reviews of an incident need.
    retention_days: int = Field(400, ge=35)


class RegistrySettings(BaseModel):
    """The relational registry (homes, devices, alerts...) and the dead-letter store."""

    url: str = "sqlite:///tecwatch-data/registry.db"


class IngestSettings(BaseModel):
    client_id: str = "tecwatch-ingest"
    # One filter for the whole namespace: anything that does not parse is dead-lettered, not ignored.
    topic_filter: str = "tec/v1/#"
    # Worker processes on one shared subscription ($share/<group>/...): the broker splits the
    # stream between them. Each keeps its own persistent session (client id "<client_id>-<n>").
    workers: int = Field(1, ge=1, le=64)
    share_group: str | None = None
    batch_max_size: int = Field(5000, ge=1)
    batch_max_wait_s: float = Field(0.2, gt=0)
    # Upper bound on unacknowledged messages the broker may send us (MQTT 5 Receive Maximum).
    receive_maximum: int = Field(20000, ge=1, le=65535)
    max_payload_bytes: int = Field(16 * 1024, ge=64)
    # Clock skew we tolerate on device/gateway timestamps.
    max_future_s: float = Field(300.0, ge=0)
    # An outbox can flush late, but not this late.
    max_age_days: float = Field(90.0, gt=0)
    stats_interval_s: float = Field(10.0, gt=0)
    store_retry_min_s: float = Field(0.5, gt=0)
    store_retry_max_s: float = Field(30.0, gt=0)
    # Health is progress: unhealthy when messages wait and none was stored or acknowledged for this long.
    stall_after_s: float = Field(60.0, gt=0)
    # Tell each gateway which of its messages are durably handled, so it keeps them until then
    # (on tec/confirm/v1/{home}); a gateway that hears nothing sends them again.
    confirm_to_gateways: bool = True
    # With a shared subscription: how long its probe may take before ingest refuses to run.
    probe_timeout_s: float = Field(10.0, gt=0)
    # A dead letter keeps this much of its payload (and its original length), for this many days.
    dead_letter_keep_bytes: int = Field(4096, ge=0, le=1_000_000)
    dead_letter_days: int = Field(30, ge=1)


class AlertSettings(BaseModel):
    """The alert engine: escalation, notifications and rules."""

    # Signs webhook bodies (HMAC-SHA256) so receivers can tell they came from us.
    webhook_secret: SecretStr = SecretStr("change-me")
    webhook_timeout_s: float = Field(10.0, gt=0)
    # Escalation and delivery run at least this often (and at once when an alert is raised).
    dispatch_interval_s: float = Field(5.0, gt=0)
    notify_max_attempts: int = Field(8, ge=1)
    notify_backoff_min_s: float = Field(5.0, gt=0)
    notify_backoff_max_s: float = Field(600.0, gt=0)
    # Used when a home has no escalation chain of its own and no default chain exists.
    fallback_wait_minutes: int = Field(5, ge=1)
    timezone: str = "Europe/London"
    # Where responders reach the API: acknowledge links in notifications start with it.
    public_url: str = "http://127.0.0.1:8080"
    # A device is silent after this many times its type's expected reporting interval...
    silent_factor: float = Field(1.5, ge=1.0)
    # ...or after these seconds for a device type (e.g. {"gateway": 300} for a missed heartbeat).
    silent_after_s: dict[str, int] = {"gateway": 300}
    health_interval_s: float = Field(60.0, gt=0)
    # Several alert workers split the homes between them (see alerts/partition.py). A worker
    # whose lease is not renewed for this long is taken as gone and its homes move.
    worker_lease_s: float = Field(30.0, ge=1)
    worker_name: str | None = None  # default: host name and process id
    pattern_interval_s: float = Field(60.0, gt=0)

    @property
    def signing_key(self) -> bytes:
        """The webhook secret as the HMAC key for webhook bodies and acknowledge links."""
        return self.webhook_secret.get_secret_value().encode()


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    # Signs sign-in tokens (JWT, HS256). Every API worker must share it.
    token_secret: SecretStr = SecretStr("change-me-too: any long random string, the same for every worker")
    token_minutes: int = Field(12 * 60, ge=1)  # one monitoring-centre shift
    # How often the live alert stream looks for changes made by any process.
    stream_poll_s: float = Field(1.0, gt=0)


MIN_SECRET_CHARS = 32
_PLACEHOLDERS = {"", "secret", "password", "changeme", "change-me"}


class Settings(BaseSettings):
    """Everything configurable; built once per process (from TECWATCH_* variables by default)."""

    model_config = SettingsConfigDict(
        env_prefix="TECWATCH_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    # Production refuses to start with a placeholder or short secret, a passwordless broker
    # login, or the embedded broker and SQLite (see _production_has_real_secrets).
    production: bool = False
    data_dir: Path = Path("tecwatch-data")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    broker: BrokerSettings = BrokerSettings()
    store: StoreSettings = StoreSettings()
    registry: RegistrySettings = RegistrySettings()
    ingest: IngestSettings = IngestSettings()
    alerts: AlertSettings = AlertSettings()
    api: ApiSettings = ApiSettings()

    @model_validator(mode="after")
    def _production_has_real_secrets(self) -> Settings:
        if not self.production:
            return self
        problems = []
        for name, secret in (("alerts.webhook_secret", self.alerts.webhook_secret),
                             ("api.token_secret", self.api.token_secret)):
            value = secret.get_secret_value()
            if value in _PLACEHOLDERS or "change-me" in value or len(value) < MIN_SECRET_CHARS:
                problems.append(f"{name} is a placeholder or shorter than {MIN_SECRET_CHARS} characters")
        if self.broker.mode == "embedded":
            problems.append("broker.mode is embedded; production uses Mosquitto (external)")
        elif self.broker.password is None or not self.broker.password.get_secret_value():
            problems.append("broker.password is not set")
        if self.store.backend == "sqlite" or self.registry.url.startswith("sqlite"):
            problems.append("the store and registry are SQLite; production uses InfluxDB and PostgreSQL")
        if problems:
            raise ValueError("refusing to start in production: " + "; ".join(problems))
        return self

    @model_validator(mode="after")
    def _shared_needs_a_real_broker(self) -> Settings:
        if self.broker.mode == "embedded" and (self.ingest.workers > 1 or self.ingest.share_group):
            raise ValueError("several ingest workers need an external broker with shared subscriptions (Mosquitto)")
        return self
