"""The relational registry: homes, residents, devices, responders, escalation, alerts."""
