"""What a device says it is, for the run's records: identity, firmware, calibration date."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date


@dataclass(frozen=True)
class DeviceIdentity:
    """One device on a bench: where it is, what it reports, and (from the bench file) when it
    was last calibrated."""

    name: str
    role: str
    resource: str
    profile: str
    manufacturer: str
    model: str
    serial: str
    firmware: str
    calibration_date: date | None = None

    def as_record(self) -> dict[str, str | None]:
        """The identity as JSON-ready fields (the calibration date as ISO text, or None)."""
        fields = {k: v for k, v in asdict(self).items() if k != "calibration_date"}
        date_text = None if self.calibration_date is None else self.calibration_date.isoformat()
        return {**fields, "calibration_date": date_text}

    def line(self) -> str:
        """The identity as one comma-separated line (the ``*IDN?`` layout)."""
        return f"{self.manufacturer},{self.model},{self.serial},{self.firmware}"


def from_idn(reply: str, name: str, role: str, resource: str, profile: str) -> DeviceIdentity:
    """An ``*IDN?`` reply (manufacturer, model, serial, firmware; IEEE 488.2 4.1.3.6)."""
    fields = [f.strip() for f in reply.strip().split(",")]
    fields += [""] * (4 - len(fields))
    firmware = ",".join(fields[3:]).strip(",")
    return DeviceIdentity(name, role, resource, profile, fields[0], fields[1], fields[2], firmware)
