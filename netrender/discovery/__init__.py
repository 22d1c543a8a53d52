# SPDX-License-Identifier: GPL-3.0-or-later
"""Finding the master on the local network, so slaves and clients need no address.

The master announces itself two ways, because neither reaches every network:

* a UDP broadcast every ``interval`` seconds to :data:`DISCOVERY_PORT`, as the
  original add-on did. It needs nothing but the socket module, but stays on one
  subnet and some Wi-Fi drops broadcasts. The payload is a small versioned JSON
  object (:func:`encode_announcement`); the receiver takes the master's IP from
  ``recvfrom``, so the payload never has to guess which of its addresses to name.
* a ``_netrender._tcp.local.`` service through zeroconf (mDNS/DNS-SD), which
  answers a query at once instead of after up to one interval, and which
  Bonjour/Avahi tools can list.

:class:`Announcer` is the master's side; :class:`Follower` listens to both at
once in the background and keeps the latest URL it heard, for a slave that must
follow a master whose address changes; :func:`find_master` is a Follower that
returns its first answer or raises :class:`DiscoveryError`.

The payload rules are pure functions (:func:`parse_announcement`,
:func:`url_from_service`) so the checks on what the network sends are tested
without sockets, and each loop is a step tests drive without sleeping
(:meth:`Announcer.run_once`, :meth:`Announcer.publish_once`,
:meth:`Follower.receive_once`).
"""

from .announcement import (
    DEFAULT_INTERVAL,
    DEFAULT_TIMEOUT,
    DISCOVERY_PORT,
    PROTOCOL,
    SERVICE_TYPE,
    DiscoveryError,
    base_url,
    encode_announcement,
    host_addresses,
    host_ipv4,
    is_default,
    parse_announcement,
    pick_address,
    service_name,
    service_properties,
    subnet_broadcasts,
    url_from_service,
)
from .announcer import Announcer, announcer_for
from .follower import Follower, find_master

__all__ = [
    "DEFAULT_INTERVAL", "DEFAULT_TIMEOUT", "DISCOVERY_PORT", "PROTOCOL", "SERVICE_TYPE", "Announcer",
    "DiscoveryError", "Follower", "announcer_for", "base_url", "encode_announcement", "find_master",
    "host_addresses", "host_ipv4", "is_default", "parse_announcement", "pick_address", "service_name",
    "service_properties", "subnet_broadcasts", "url_from_service",
]
