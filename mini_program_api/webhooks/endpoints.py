"""A merchant's webhook endpoints: where to send, which events, and the signing secret.

The secret is kabao's to make (Standard Webhooks form, `whsec_` + base64 of 24 random bytes), shown to the
admin once, on creation and on rotation, and kept encrypted (platform/pii.py `sealer`): the delivery job needs
its value to sign, so a one-way hash would not do.

The URL is where a request will go from inside our network, so it is checked as an SSRF risk, here and again
before every delivery (delivery.py), since what a name resolves to can change: https only (plain http only to
loopback, and loopback only on the local stages), no user:password, and every address the host resolves to
must be a public unicast one (no private, link-local such as the 169.254.169.254 metadata service, loopback,
multicast, reserved or unspecified address, nor an IPv6 form leading to one through NAT64 or 6to4). The
delivery then connects to the very address checked.

Registering the first endpoint and removing the last move `Merchant.webhook_endpoints` in the same
transaction, which is what makes the event sites write an outbox item at all (outbox.py).
"""

from __future__ import annotations

import base64
import ipaddress
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from pynamodb.expressions.update import Action

from mini_program_api.db.models import PROFILE, Merchant, merchant_pk
from mini_program_api.db.transact import Cancelled, Transaction, commit_pinned
from mini_program_api.merchants import merchants
from mini_program_api.platform import clock, ids, paging, pii
from mini_program_api.platform.config import settings
from mini_program_api.platform.errors import KabaoError
from mini_program_api.webhooks.models import WebhookEndpoint, endpoints_pk

MAX_ENDPOINTS = 10  # each event fans out to every endpoint that wants it, in one transaction
_SEALER = "webhook/secret"
ROTATION_OVERLAP = timedelta(hours=24)


@dataclass(frozen=True)
class Target:
    """A checked URL: connect to `address` (one of the host's, all checked), speak to `host`."""

    scheme: str
    host: str
    port: int
    path: str
    address: str


def _refuse(why: str) -> KabaoError:
    return KabaoError("WEBHOOK_URL_REFUSED", why)


def _resolve(host: str, port: int) -> list[str]:
    """The host's addresses. On a local stage nothing leaves the machine, DNS included: only an IP address or
    `localhost` is taken there (the fuzz sends made-up host names)."""
    if settings().is_local and host != "localhost" and not _literal(host):
        raise _refuse("on a local stage, an IP address or localhost (no name is looked up)")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise _refuse("the URL's host does not resolve") from None
    return sorted({str(info[4][0]) for info in infos})


def _literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    return True


# RFC 6052: a NAT64 gateway (the VPC's NAT gateway among them) reaches the IPv4 address inside, private ones too.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: local-use translation, to whatever the operator set
_V4_COMPATIBLE = ipaddress.ip_network("::/96")  # RFC 4291's deprecated IPv4-compatible form


def _carries_private_v4(ip: ipaddress.IPv6Address) -> bool:
    """Whether an IPv6 address leads, through a translator or tunnel, to an IPv4 address kabao must not call:
    NAT64 and 6to4 to a non-public one, local-use NAT64 and IPv4-compatible to wherever an operator chose.
    Python's `is_global` passes all of these forms."""
    if ip in _NAT64:
        carried: ipaddress.IPv4Address | None = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    elif ip in _NAT64_LOCAL or (ip in _V4_COMPATIBLE and int(ip) > 1):
        return True
    else:
        carried = ip.sixtofour
    return carried is not None and (carried.is_multicast or not carried.is_global)


def check_url(url: str) -> Target:
    """Refuse (400 WEBHOOK_URL_REFUSED) a URL kabao must not call; the address to call otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _refuse("not a URL") from None
    scheme, host = parts.scheme.lower(), parts.hostname
    if scheme not in ("https", "http") or not host:
        raise _refuse("an https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise _refuse("no user or password in the URL: verify the signature instead")
    port = port or (443 if scheme == "https" else 80)
    addresses = _resolve(host, port)
    loopback = True
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif isinstance(ip, ipaddress.IPv6Address) and _carries_private_v4(ip):
            raise _refuse("the URL's host leads to a private, link-local, loopback or reserved IPv4 address")
        if ip.is_loopback:
            if not settings().is_local:
                raise _refuse("the URL's host is a loopback address")
            continue
        loopback = False
        if ip.is_multicast or not ip.is_global:
            raise _refuse("the URL's host is a private, link-local, multicast or reserved address")
    if scheme == "http" and not loopback:
        raise _refuse("https only (plain http only to loopback on a local stage)")
    path = parts.path or "/"
    return Target(scheme, host, port, f"{path}?{parts.query}" if parts.query else path, addresses[0])


def _new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def secret_of(endpoint: WebhookEndpoint) -> str:
    return pii.sealer(_SEALER).decrypt(str(endpoint.secret_enc).encode()).decode()


def signing_secrets(endpoint: WebhookEndpoint, at: datetime) -> list[str]:
    """The secrets an attempt at `at` is signed with: the current one, and the one it replaced within a day."""
    current = [secret_of(endpoint)]
    if endpoint.previous_secret_enc is None or endpoint.previous_until is None or at >= endpoint.previous_until:
        return current
    return current + [pii.sealer(_SEALER).decrypt(str(endpoint.previous_secret_enc).encode()).decode()]


def _seal(secret: str) -> tuple[str, str]:
    return pii.sealer(_SEALER).encrypt(secret.encode()).decode(), secret[:10]


def _events(wanted: list[str]) -> list[str]:
    from mini_program_api.webhooks import events

    unknown = sorted(set(wanted) - set(events.TYPES))
    if unknown:
        raise KabaoError("VALIDATION_ERROR", f"unknown events: {', '.join(unknown)}")
    return [t for t in events.TYPES if t in set(wanted)]


def create(merchant_id: str, url: str, wanted: list[str], description: str | None) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it and its secret (the only time the secret is shown)."""
    check_url(url)
    secret = _new_secret()
    sealed, hint = _seal(secret)
    now = clock.now()
    endpoint_id = f"we_{ids.new_id()[:20]}"
    endpoint = WebhookEndpoint(
        endpoints_pk(merchant_id),
        endpoint_id,
        merchant_id=merchant_id,
        endpoint_id=endpoint_id,
        url=url,
        description=description,
        events=_events(wanted),
        enabled=True,
        secret_enc=sealed,
        secret_hint=hint,
        version=0,
        created_at=now,
        updated_at=now,
    )
    tx = Transaction()
    tx.put("endpoint", endpoint, condition=WebhookEndpoint.sk.does_not_exist())
    tx.update(
        "merchant",
        Merchant(merchant_pk(merchant_id), PROFILE),
        actions=[Merchant.webhook_endpoints.add(1)],
        condition=Merchant.pk.exists()
        & (Merchant.webhook_endpoints.does_not_exist() | (Merchant.webhook_endpoints < MAX_ENDPOINTS)),
    )
    try:
        tx.commit()
    except Cancelled as exc:
        if "merchant" in exc.failed:
            raise KabaoError("TOO_MANY_WEBHOOK_ENDPOINTS", f"at most {MAX_ENDPOINTS} endpoints") from exc
        raise
    merchants.read(merchant_id)  # this container's cache sees the endpoint at once
    return endpoint, secret


def get(merchant_id: str, endpoint_id: str) -> WebhookEndpoint:
    """One of the merchant's endpoints; another merchant's id is simply not in this partition (404)."""
    try:
        return WebhookEndpoint.get(endpoints_pk(merchant_id), endpoint_id, consistent_read=True)
    except WebhookEndpoint.DoesNotExist:
        raise KabaoError("WEBHOOK_ENDPOINT_NOT_FOUND", "no such webhook endpoint") from None


def find(merchant_id: str, endpoint_id: str) -> WebhookEndpoint | None:
    try:
        return get(merchant_id, endpoint_id)
    except KabaoError:
        return None


def page(merchant_id: str, cursor: str | None, limit: int) -> paging.Page[WebhookEndpoint]:
    return paging.partition(WebhookEndpoint, endpoints_pk(merchant_id), cursor, limit)


def listening(merchant_id: str) -> list[WebhookEndpoint]:
    """Every endpoint of the merchant (at most MAX_ENDPOINTS: one page)."""
    return list(WebhookEndpoint.query(endpoints_pk(merchant_id), consistent_read=True, limit=MAX_ENDPOINTS * 2))


def update(
    merchant_id: str,
    endpoint_id: str,
    url: str | None = None,
    wanted: list[str] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
) -> WebhookEndpoint:
    """Change what was given; pinned to the endpoint as read (a concurrent change: 409 CONCURRENT_UPDATE).

    Nothing given is a 400 (a write with nothing in it); values equal to the stored ones change nothing, so
    the endpoint as read can be written back without moving its version."""
    if url is None and wanted is None and description is None and enabled is None:
        raise KabaoError("VALIDATION_ERROR", "give at least one of url, events, description, enabled")
    endpoint = get(merchant_id, endpoint_id)
    actions: list[Action] = []
    if url is not None and url != endpoint.url:
        check_url(url)
        actions.append(WebhookEndpoint.url.set(url))
    if wanted is not None and _events(wanted) != list(endpoint.events):
        actions.append(WebhookEndpoint.events.set(_events(wanted)))  # type: ignore[arg-type]
    if description is not None and description != endpoint.description:
        actions.append(WebhookEndpoint.description.set(description))
    if enabled is not None and enabled != bool(endpoint.enabled):
        actions.append(WebhookEndpoint.enabled.set(enabled))
    if not actions:
        return endpoint
    _pinned(endpoint, [*actions, WebhookEndpoint.updated_at.set(clock.now()), WebhookEndpoint.version.add(1)])
    return get(merchant_id, endpoint_id)


def rotate_secret(merchant_id: str, endpoint_id: str) -> tuple[WebhookEndpoint, str]:
    """A new secret, shown once. The receiver holds the old one until its own deploy, so for `ROTATION_OVERLAP`
    every attempt is signed with both (Standard Webhooks: a receiver accepts any signature it can verify) and
    nothing waits in retries meanwhile; a second rotation within the day keeps only the secret it replaced."""
    endpoint = get(merchant_id, endpoint_id)
    secret, now = _new_secret(), clock.now()
    sealed, hint = _seal(secret)
    _pinned(
        endpoint,
        [
            WebhookEndpoint.secret_enc.set(sealed),
            WebhookEndpoint.secret_hint.set(hint),
            WebhookEndpoint.previous_secret_enc.set(str(endpoint.secret_enc)),
            WebhookEndpoint.previous_until.set(now + ROTATION_OVERLAP),
            WebhookEndpoint.updated_at.set(now),
            WebhookEndpoint.version.add(1),
        ],
    )
    return get(merchant_id, endpoint_id), secret


def _pinned(endpoint: WebhookEndpoint, actions: Sequence[Action]) -> None:
    tx = Transaction()
    tx.update("endpoint", endpoint, actions=actions, condition=WebhookEndpoint.version == int(endpoint.version))
    commit_pinned(tx, "endpoint", "webhook endpoint")


def delete(merchant_id: str, endpoint_id: str) -> None:
    """Remove the endpoint; what was still queued for it is dropped by the job (its endpoint is gone)."""
    endpoint = get(merchant_id, endpoint_id)
    tx = Transaction()
    tx.delete("endpoint", endpoint, condition=WebhookEndpoint.sk.exists())
    tx.update(
        "merchant",
        Merchant(merchant_pk(merchant_id), PROFILE),
        actions=[Merchant.webhook_endpoints.add(-1)],
        condition=Merchant.webhook_endpoints > 0,
    )
    try:
        tx.commit()
    except Cancelled as exc:
        if "endpoint" in exc.failed:
            raise KabaoError("WEBHOOK_ENDPOINT_NOT_FOUND", "no such webhook endpoint") from exc
        raise
    merchants.read(merchant_id)
