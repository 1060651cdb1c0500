"""The home gateway's configuration, read from a TOML file (``tecwatch gateway --config``).

The hub is configured per home by whoever installs it, so its settings live in one file on the
hub rather than in the platform's environment. See ``gateway/gateway.example.toml``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from tecwatch.devices import DEVICE_TYPES
from tecwatch.devices.catalogue import GATEWAY_DEVICE_ID
from tecwatch.devices.payloads import ID_PATTERN, ROOM_PATTERN

from tecwatch.settings import BrokerSettings


class GatewayConfigError(ValueError):
    """The config file is missing, not TOML, or describes an impossible gateway."""


class _Strict(BaseModel):
    # A typo in a hand-written file should be an error, not a silently ignored key.
    model_config = ConfigDict(extra="forbid")


class LocalBroker(_Strict):
    """The broker on the hub that Zigbee2MQTT publishes to."""

    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    base_topic: str = "zigbee2mqtt"

    @field_validator("base_topic")
    @classmethod
    def _plain_topic(cls, v: str) -> str:
        if not v or any(c in v for c in "#+") or v.startswith("/") or v.endswith("/"):
            raise ValueError("base_topic must be a plain topic like 'zigbee2mqtt'")
        return v


class PlatformBroker(_Strict):
    """The platform broker; each home has its own credentials."""

    host: str
    port: int = Field(8883, ge=1, le=65535)
    # 5 lets the broker say a message reached no subscriber, so the outbox keeps it (see forwarder).
    protocol: str = Field("5", pattern=r"^(3\.1\.1|5)$")
    username: str
    password: SecretStr | None = None
    password_file: Path | None = None
    tls: bool = True
    tls_ca_file: Path | None = None
    keepalive_s: int = Field(30, ge=5)
    # Reconnect backoff doubles up to this, so a hub finds a restarted platform within it.
    reconnect_max_s: float = Field(30.0, ge=1)

    @model_validator(mode="after")
    def _one_password(self) -> PlatformBroker:
        if self.password is not None and self.password_file is not None:
            raise ValueError("give password or password_file, not both")
        return self


# A Zigbee2MQTT action name, or a prefix ending in "*" ("double*"), or "*" for any action.
ActionPattern = Annotated[str, Field(pattern=r"^([^\s*]+\*?|\*)$")]


class ConfiguredDevice(_Strict):
    friendly_name: str = Field(min_length=1)
    device_id: str = Field(pattern=ID_PATTERN)
    type: str
    room: str | None = Field(None, pattern=ROOM_PATTERN)
    # Which of the device's Zigbee2MQTT actions mean help / cancel (case-insensitive); unset,
    # the type's defaults (gateway/zigbee.py DEFAULT_ACTIONS). With help_actions set, any other
    # action is unknown: logged, counted in the heartbeat, and not taken as a press.
    help_actions: list[ActionPattern] | None = Field(None, min_length=1)
    cancel_actions: list[ActionPattern] | None = None

    @field_validator("type")
    @classmethod
    def _known_type(cls, v: str) -> str:
        if v not in DEVICE_TYPES or v == GATEWAY_DEVICE_ID:
            known = ", ".join(t for t in DEVICE_TYPES if t != GATEWAY_DEVICE_ID)
            raise ValueError(f"unknown device type {v!r}; known types: {known}")
        return v

    @field_validator("help_actions", "cancel_actions")
    @classmethod
    def _lowercase(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else [a.lower() for a in v]

    @model_validator(mode="after")
    def _sensible_actions(self) -> ConfiguredDevice:
        if self.help_actions is None and self.cancel_actions is None:
            return self
        if not any(f.name == "action" for f in DEVICE_TYPES[self.type].fields):
            raise ValueError(f"a {self.type} has no button actions; remove help_actions/cancel_actions")
        if "*" in (self.cancel_actions or ()):
            raise ValueError("cancel_actions '*' would make every press a cancel")
        both = sorted(set(self.help_actions or ()) & set(self.cancel_actions or ()))
        if both:
            raise ValueError(f"{', '.join(both)} cannot be both a help and a cancel action")
        return self


class GatewayConfig(_Strict):
    home_id: str = Field(pattern=ID_PATTERN)
    data_dir: Path = Path("gateway-data")
    heartbeat_s: float = Field(60.0, gt=0)
    outbox_max_messages: int = Field(500_000, ge=100)
    # Messages published to the platform and not yet acknowledged, at most.
    max_in_flight: int = Field(500, ge=1, le=10_000)
    # A message the broker took is sent again if the platform has not confirmed it by then,
    # backing off (doubling) up to resend_max_s while the platform stays silent.
    resend_after_s: float = Field(30.0, ge=1)
    resend_max_s: float = Field(600.0, ge=1)
    log_level: str = Field("INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")
    # The platform's web address (e.g. its /healthz): the heartbeat's clock offset is measured
    # against its Date header. Unset, the kernel's NTP state is reported instead.
    clock_check_url: str | None = Field(None, pattern=r"^https?://[^\s/?#]+([/?][^\s]*)?$")
    local: LocalBroker = LocalBroker()
    platform: PlatformBroker
    devices: list[ConfiguredDevice] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_devices(self) -> GatewayConfig:
        for attr in ("friendly_name", "device_id"):
            seen: set[str] = set()
            for d in self.devices:
                value = getattr(d, attr)
                if value in seen:
                    raise ValueError(f"two devices have {attr} {value!r}")
                seen.add(value)
        if any(d.device_id == GATEWAY_DEVICE_ID for d in self.devices):
            raise ValueError(f"device_id {GATEWAY_DEVICE_ID!r} is the gateway's own")
        return self

    @property
    def outbox_path(self) -> Path:
        return self.data_dir / "outbox.db"

    def local_broker(self) -> BrokerSettings:
        return BrokerSettings(
            mode="external", host=self.local.host, port=self.local.port,
            username=self.local.username, password=self.local.password, tls=False,
        )

    def platform_broker(self) -> BrokerSettings:
        p = self.platform
        password = p.password
        if p.password_file is not None:
            try:
                password = SecretStr(p.password_file.read_text().strip())
            except OSError as err:
                raise GatewayConfigError(f"cannot read platform.password_file: {err}") from err
        return BrokerSettings(
            mode="external", host=p.host, port=p.port, protocol=p.protocol,  # type: ignore[arg-type]
            username=p.username, password=password, tls=p.tls, tls_ca_file=p.tls_ca_file,
            keepalive_s=p.keepalive_s, reconnect_max_s=p.reconnect_max_s,
        )


def load_config(path: Path | str) -> GatewayConfig:
    """Read and check a gateway config file; errors name the file and the offending key."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GatewayConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise GatewayConfigError(f"{path}: cannot read: {err}") from None
    except tomllib.TOMLDecodeError as err:
        raise GatewayConfigError(f"{path}: not valid TOML: {err}") from None
    try:
        return GatewayConfig.model_validate(raw)
    except ValidationError as err:
        lines = [f"{path}: invalid gateway config:"]
        for e in err.errors():
            where = ".".join(str(p) for p in e["loc"]) or "(top level)"
            lines.append(f"  {where}: {e['msg']}")
        raise GatewayConfigError("\n".join(lines)) from None
