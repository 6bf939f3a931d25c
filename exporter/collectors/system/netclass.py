"""node_network_up, _speed_bytes, _mtu_bytes and friends: each network device's
/sys/class/net attributes (node_exporter's netclass collector, which skips no device)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric

from . import procfs
from .procfs import read_optional

# sysfs attribute -> (metric, help, scale)
_ATTRIBUTES = {
    "carrier": ("node_network_carrier", "carrier value of /sys/class/net/<iface>.", 1),
    "flags": ("node_network_flags", "flags value of /sys/class/net/<iface>.", 1),
    "iflink": ("node_network_iface_link", "iface_link value of /sys/class/net/<iface>.", 1),
    "mtu": ("node_network_mtu_bytes", "mtu_bytes value of /sys/class/net/<iface>.", 1),
    "tx_queue_len": (
        "node_network_transmit_queue_length",
        "transmit_queue_length value of /sys/class/net/<iface>.",
        1,
    ),
    # Mbit/s in sysfs; bytes per second, as node_exporter publishes it
    "speed": (
        "node_network_speed_bytes",
        "speed_bytes value of /sys/class/net/<iface>.",
        1_000_000 / 8,
    ),
}


def collect() -> Iterable[Metric]:
    up = GaugeMetricFamily(
        "node_network_up",
        "Value is 1 if operstate is 'up', 0 otherwise.",
        labels=["device"],
    )
    families = {
        attribute: GaugeMetricFamily(name, help_, labels=["device"])
        for attribute, (name, help_, _) in _ATTRIBUTES.items()
    }
    net = procfs.SYS / "class/net"
    for path in sorted(net.iterdir()) if net.is_dir() else []:
        device = path.name
        operstate = (read_optional(path / "operstate") or "").strip()
        up.add_metric([device], 1.0 if operstate == "up" else 0.0)
        for attribute, family in families.items():
            value = _number(read_optional(path / attribute))
            # unreadable: left out; a speed of -1 (unknown) is kept, as node_exporter 1.5 does
            if value is not None:
                family.add_metric([device], value * _ATTRIBUTES[attribute][2])
    return [up, *(f for f in families.values() if f.samples)]


def _number(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return float(int(text.strip(), 0))  # flags are written in hex (0x1003)
    except ValueError:
        return None
