"""Device catalogue: device types and capabilities as data, payload models, validation."""

from .catalogue import DEVICE_TYPES, Channel, Condition, DeviceType, FieldSpec, Value, device_type
from .payloads import PlatformMessage, Reading, make_reading, platform_message
from .validation import Limits, Rejection, RejectReason, parse_message, parse_topic

__all__ = [
    "DEVICE_TYPES", "Channel", "Condition", "DeviceType", "FieldSpec", "Value", "device_type",
    "Reading", "make_reading", "PlatformMessage", "platform_message", "Limits", "Rejection", "RejectReason", "parse_message", "parse_topic",
]
