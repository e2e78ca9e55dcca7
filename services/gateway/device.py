"""The client a request comes from, as identity's DeviceInfo: sessions, sign-in records and
security events are made from it.

The client's address is the connection's peer. ``X-Forwarded-For`` is read only when that peer
is one of the configured trusted proxies, and then from the right: each trusted hop is skipped,
and the first address not a trusted proxy is the client. Anything a client writes further left
is its own claim and is ignored, so a client cannot choose the address it is recorded with.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Annotated

from fastapi import Depends, Header, Request

from quarterdeck.identity.v1 import identity_pb2 as ipb
from services.gateway.config import IpNetwork

FORWARDED_FOR_HEADER = "x-forwarded-for"
#: What identity keeps of a User-Agent; longer ones are cut there too.
MAX_USER_AGENT = 512
#: The longest fingerprint identity can store.
MAX_FINGERPRINT = 256


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, trusted: Sequence[IpNetwork]
) -> bool:
    return any(address in network for network in trusted)


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[IpNetwork]
) -> str:
    """The client's IP address: ``peer``, or from ``X-Forwarded-For`` when ``peer`` is trusted."""
    if not peer or not trusted:
        return peer or ""
    current = _address(peer)
    if current is None or not _trusted(current, trusted):
        return peer
    hops = [hop for header in forwarded_for for hop in header.split(",")]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:  # garbage from further away: the last hop we could trust is it
            break
        current = address
        if not _trusted(address, trusted):
            break
    return str(current)


def client_address_of(request: Request) -> str:
    """The address of the client making ``request`` (see :func:`client_address`)."""
    trusted: Sequence[IpNetwork] = request.app.state.trusted_proxies
    client = request.scope.get("client")
    # With no proxy to believe (most deployments) the header is never read: skip parsing it.
    forwarded_for = request.headers.getlist(FORWARDED_FOR_HEADER) if trusted else ()
    return client_address(client[0] if client else None, forwarded_for, trusted)


def describe_user_agent(user_agent: str) -> tuple[str, str, str]:
    """(platform, browser, device class) of a User-Agent, each empty when unrecognised.

    A rough reading for the session list ("Firefox on Linux"), never used for a decision.
    """
    ua = user_agent
    if "iPhone" in ua or "iPad" in ua or "iPod" in ua:
        platform = "iOS"
    elif "Android" in ua:
        platform = "Android"
    elif "Windows" in ua:
        platform = "Windows"
    elif "CrOS" in ua:
        platform = "ChromeOS"
    elif "Macintosh" in ua or "Mac OS X" in ua:
        platform = "macOS"
    elif "Linux" in ua:
        platform = "Linux"
    else:
        platform = ""
    if "Edg/" in ua or "EdgA/" in ua or "EdgiOS/" in ua:
        browser = "Edge"
    elif "OPR/" in ua:
        browser = "Opera"
    elif "Firefox/" in ua or "FxiOS/" in ua:
        browser = "Firefox"
    elif "Chrome/" in ua or "CriOS/" in ua or "Chromium/" in ua:
        browser = "Chrome"
    elif "Safari/" in ua and "Version/" in ua:
        browser = "Safari"
    else:
        browser = ""
    if "iPad" in ua or "Tablet" in ua or (platform == "Android" and "Mobile" not in ua):
        device = "tablet"
    elif "Mobi" in ua or "iPhone" in ua or "iPod" in ua:
        device = "mobile"
    elif platform in ("Windows", "macOS", "Linux", "ChromeOS"):
        device = "desktop"
    else:
        device = ""
    return platform, browser, device


def device_of(
    request: Request,
    user_agent: Annotated[str, Header(include_in_schema=False)] = "",
    fingerprint: Annotated[
        str,
        Header(
            alias="X-Device-Fingerprint",
            max_length=MAX_FINGERPRINT,
            description="An optional fingerprint of the client device, kept with its session.",
        ),
    ] = "",
) -> ipb.DeviceInfo:
    """FastAPI dependency: the DeviceInfo of the client making ``request``."""
    address = client_address_of(request)
    user_agent = user_agent[:MAX_USER_AGENT]
    platform, browser, device = describe_user_agent(user_agent)
    return ipb.DeviceInfo(
        user_agent=user_agent,
        ip_address=address,
        fingerprint=fingerprint,
        client_platform=platform,
        client_browser=browser,
        client_device=device,
    )


Device = Annotated[ipb.DeviceInfo, Depends(device_of)]
