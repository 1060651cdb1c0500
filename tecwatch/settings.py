"""The one configuration object. Environment variables are read here and nowhere else.

Every value can be set as ``TECWATCH_<SECTION>__<NAME>``, e.g. ``TECWATCH_BROKER__PORT=1883``
or ``TECWATCH_STORE__BACKEND=influxdb``.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Literal

from cryptography.fernet import Fernet
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tecwatch.secretfile import ENCRYPTION_KEY, load_or_create, new_secret


class _Section(BaseModel):
    # Validation errors never repeat what was given: it may be a secret.
    model_config = ConfigDict(hide_input_in_errors=True)


def _random_secret() -> SecretStr:
    """A section made on its own signs with a key nobody else knows; ``Settings`` replaces it with
    the data directory's stored secret (or, in production, requires one to be set)."""
    return SecretStr(new_secret())


class BrokerSettings(_Section):
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


class StoreSettings(_Section):
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


def _random_key() -> SecretStr:
    return SecretStr(new_secret(ENCRYPTION_KEY))


class RegistrySettings(_Section):
    """The relational registry (homes, devices, alerts...) and the dead-letter store."""

    url: str = "sqlite:///tecwatch-data/registry.db"
    # Seals homes' access information (key-safe codes) at rest: a Fernet key (32 random bytes,
    # url-safe base64). Back it up: without it the access information cannot be read.
    encryption_key: SecretStr = Field(default_factory=_random_key)

    @field_validator("encryption_key")
    @classmethod
    def _fernet_key(cls, value: SecretStr) -> SecretStr:
        try:
            Fernet(value.get_secret_value().encode())
        except (ValueError, TypeError):
            raise ValueError("registry.encryption_key is not a Fernet key (32 random bytes, url-safe base64: "
                             "make one with `python -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())'`)"
                             ) from None
        return value


class IngestSettings(_Section):
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


class AlertSettings(_Section):
    """The alert engine: escalation, notifications and rules."""

    # Signs webhook bodies (HMAC-SHA256) so receivers can tell they came from us.
    webhook_secret: SecretStr = Field(default_factory=_random_secret)
    # Signs acknowledge links. A key of its own: every webhook receiver holds the webhook secret.
    ack_link_secret: SecretStr = Field(default_factory=_random_secret)
    # How long an acknowledge link works; checked when it is used, not only when it is made.
    ack_link_hours: float = Field(24.0, gt=0, le=24 * 7)
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
        """The webhook secret as the HMAC key for webhook bodies."""
        return self.webhook_secret.get_secret_value().encode()

    @property
    def ack_link_key(self) -> bytes:
        """The HMAC key for acknowledge links."""
        return self.ack_link_secret.get_secret_value().encode()


class ApiSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    # Signs sign-in tokens (JWT, HS256). Every API worker must share it.
    token_secret: SecretStr = Field(default_factory=_random_secret)
    token_minutes: int = Field(12 * 60, ge=1)  # one monitoring-centre shift
    # How often the live alert stream looks for changes made by any process.
    stream_poll_s: float = Field(1.0, gt=0)
    # Reverse proxies (addresses or networks, as a JSON list) whose X-Forwarded-For and
    # X-Forwarded-Proto are believed. Nobody else's are.
    trusted_proxies: list[str] = []
    # Password checks (argon2) at once; the rest wait briefly, then are told to try again, so that
    # a flood of sign-ins cannot take every core. Default: half the cores.
    password_checks_at_once: int = Field(default_factory=lambda: max(1, (os.cpu_count() or 2) // 2), ge=1, le=64)
    password_check_wait_s: float = Field(2.0, gt=0)
    # Failed sign-ins: after `login_free_failures` an account waits 1, 2, 4... seconds between
    # tries, and after `login_lockout_failures` it is locked for `login_lockout_minutes`. An
    # address (which may be a whole office behind one router) gets ten times the room.
    login_free_failures: int = Field(3, ge=1)
    login_lockout_failures: int = Field(10, ge=2)
    login_lockout_minutes: float = Field(15.0, gt=0)
    login_address_factor: int = Field(10, ge=1)
    # Commissioners' reports show a count from 1 to one under this (and every figure worked out
    # from one) as "<5" (api/disclosure.py). At least 2: a count of one is never shown.
    small_number_threshold: int = Field(5, ge=2, le=100)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"trusted_proxies: {item!r} is not an address or network") from None
        return value


class CallScript(_Section):
    """What an operator says on a call for one kind of alarm."""

    ask: str = Field(max_length=2000)  # what to ask when the resident answers
    no_answer: str = Field(max_length=2000)  # what to do when nobody answers


_NO_ANSWER = ("Speak through the alarm unit. Call the responders in order, key holders first if the resident "
              "may be on the floor; send the mobile responder if nobody can go; call 999 if there is any sign "
              "of harm.")
_CALL_SCRIPTS = {
    "pendant": CallScript(ask="Say who you are. Ask: are you all right? Have you fallen or hurt yourself? "
                              "Do you need someone to come? Did you press it by mistake?", no_answer=_NO_ANSWER),
    "fall_detected": CallScript(ask="Say who you are. Ask: have you fallen? Are you hurt, can you get up on "
                                    "your own? Do not tell them to get up if they are hurt.", no_answer=_NO_ANSWER),
    "smoke": CallScript(ask="Ask: is there a fire or smoke? If yes, tell them to leave now and call 999 (fire "
                            "service). If cooking smoke, ask them to open a window.",
                        no_answer="Call 999 (fire service) at once, then the key holders."),
    "flood": CallScript(ask="Ask: is water leaking? Can you turn off the stopcock safely? Avoid switches near "
                            "water.", no_answer="Call a key holder to go round; speak through the alarm unit."),
    "default": CallScript(ask="Say who you are and why you are calling. Ask: are you all right? Do you need "
                              "anything?", no_answer="Try again in 10 minutes, then call the first responder."),
}


class ConsoleSettings(_Section):
    """The monitoring centre's pages."""

    # The centre's own time zone: every time on the operator pages is shown in it.
    timezone: str = "Europe/London"
    # A call script per alert rule (``default`` for the rest), e.g. as JSON in
    # TECWATCH_CONSOLE__CALL_SCRIPTS='{"pendant": {"ask": "...", "no_answer": "..."}}'; the
    # rules it does not name keep their built-in scripts.
    call_scripts: dict[str, CallScript] = Field(default_factory=lambda: dict(_CALL_SCRIPTS))
    # A responder's "map" link: this, then the home's address (URL-encoded). Only a link: the
    # platform never fetches it. E.g. https://www.openstreetmap.org/search?query=
    maps_search_url: str = Field("https://www.google.com/maps/search/?api=1&query=", pattern=r"^https://[^\s]+$",
                                 max_length=500)

    @field_validator("call_scripts")
    @classmethod
    def _over_defaults(cls, value: dict[str, CallScript]) -> dict[str, CallScript]:
        from tecwatch.alerts.rules import BY_KEY  # the rules table; read when settings are checked

        unknown = sorted(set(value) - set(BY_KEY) - {"default"})
        if unknown:
            # A misspelt rule would leave its calls on the default script without anyone knowing.
            raise ValueError(f"console.call_scripts: no alert rule called {', '.join(map(repr, unknown))} "
                             f"(rules: {', '.join(sorted(BY_KEY))}, or default)")
        return {**_CALL_SCRIPTS, **value}

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"console.timezone: {value!r} is not a time zone (e.g. Europe/London)") from None
        return value

    def script(self, rule: str) -> CallScript:
        return self.call_scripts.get(rule) or self.call_scripts.get("default") or _CALL_SCRIPTS["default"]


MIN_SECRET_CHARS = 32
MIN_SECRET_VARIETY = 10  # distinct characters: "x" * 40 is long but no secret
MIN_BROKER_PASSWORD = 16
# Values published in this project's history or in examples: never accepted, in any mode.
_PLACEHOLDERS = {"", "secret", "password", "changeme", "change-me",
                 "change-me-too: any long random string, the same for every worker"}
# (section, field, name in messages): the secrets that sign things.
_SECRETS = (("alerts", "webhook_secret", "alerts.webhook_secret"), ("alerts", "ack_link_secret", "alerts.ack_link_secret"),
            ("api", "token_secret", "api.token_secret"), ("registry", "encryption_key", "registry.encryption_key"))


def _is_placeholder(value: str) -> bool:
    lowered = value.strip().lower()
    return lowered in _PLACEHOLDERS or "change-me" in lowered or "changeme" in lowered


class Settings(BaseSettings):
    """Everything configurable; built once per process (from TECWATCH_* variables by default)."""

    model_config = SettingsConfigDict(
        env_prefix="TECWATCH_",
        env_nested_delimiter="__",
        extra="ignore",
        hide_input_in_errors=True,
    )

    # Production refuses to start with a placeholder or short secret, a passwordless broker
    # login, or the embedded broker and SQLite (see _production_has_real_secrets).
    production: bool = False
    data_dir: Path = Path("tecwatch-data")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)

    @model_validator(mode="after")
    def _no_published_secrets(self) -> Settings:
        """A placeholder is refused everywhere. Outside production a secret that is not set comes
        from the data directory's secrets file (made on first run); production must set each one."""
        placeholders = [name for section, field, name in _SECRETS
                        if field in getattr(self, section).model_fields_set
                        and _is_placeholder(getattr(getattr(self, section), field).get_secret_value())]
        if placeholders and not self.production:  # production says so among all its problems
            raise ValueError(f"{', '.join(placeholders)}: a published placeholder, not a secret; "
                             "set a long random value, or leave it unset outside production")
        if self.production:
            return self
        unset = [(section, field) for section, field, _ in _SECRETS if field not in getattr(self, section).model_fields_set]
        if unset:
            stored = load_or_create(self.data_dir)
            for section, field in unset:
                model = getattr(self, section)
                setattr(self, section, model.model_copy(update={field: SecretStr(stored[field])}))
            # The stored key is checked as a set one would be (the file may have been edited).
            RegistrySettings._fernet_key(self.registry.encryption_key)
        return self

    @model_validator(mode="after")
    def _production_has_real_secrets(self) -> Settings:
        if not self.production:
            return self
        problems = []
        values: dict[str, str] = {}
        for section, field, name in _SECRETS:
            model = getattr(self, section)
            value = getattr(model, field).get_secret_value()
            if field not in model.model_fields_set:
                problems.append(f"{name} is not set")
            elif len(value) < MIN_SECRET_CHARS or _is_placeholder(value):
                problems.append(f"{name} is a placeholder or shorter than {MIN_SECRET_CHARS} characters")
            elif len(set(value)) < MIN_SECRET_VARIETY:
                problems.append(f"{name} has fewer than {MIN_SECRET_VARIETY} different characters: use a random value")
            else:
                values[name] = value
        if self.broker.mode == "embedded":
            problems.append("broker.mode is embedded; production uses Mosquitto (external)")
        elif self.broker.password is None or not self.broker.password.get_secret_value():
            problems.append("broker.password is not set")
        elif len(self.broker.password.get_secret_value()) < MIN_BROKER_PASSWORD:
            problems.append(f"broker.password is shorter than {MIN_BROKER_PASSWORD} characters")
        else:
            values["broker.password"] = self.broker.password.get_secret_value()
        names = sorted(values)
        for i, a in enumerate(names):
            problems += [f"{a} and {b} are the same: each secret must be its own" for b in names[i + 1:]
                         if values[a] == values[b]]
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
