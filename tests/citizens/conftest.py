"""A client per test with its own address, so that one test's tracking attempts never count
against another's limit, over an app with small limits the tests can reach."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator

import httpx
import msgspec
import pytest

from server.app import create_app
from server.settings import get_settings
from server.tables import District
from tests.support import World

_addresses = itertools.count(1)
PER_CLIENT, PER_TICKET, REPORTS = 12, 6, 8


def client_address() -> str:
    n = next(_addresses) + os.getpid() % 200 * 1000
    return f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"


@pytest.fixture(scope="session")
def citizens_app():
    settings = msgspec.structs.replace(
        get_settings(),
        track_per_client_per_minute=PER_CLIENT,
        track_per_ticket_per_minute=PER_TICKET,
        report_per_minute=REPORTS,
    )
    return create_app(settings)


@pytest.fixture
async def public(client, citizens_app) -> AsyncIterator[httpx.AsyncClient]:
    """A citizen's phone: its own address, no log-in."""
    transport = httpx.ASGITransport(app=citizens_app, client=(client_address(), 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://gridcase.test") as c:
        yield c


@pytest.fixture
async def district_code(world: World) -> str:
    row = await District.select(District.code).where(District.id == world.district_id).first()
    assert row is not None
    return str(row["code"])
