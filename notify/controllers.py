"""GET /alerts and GET /outbox (DESIGN §12): what the worker recorded and what it "sent" locally."""

import uuid
from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter

from notify import queries
from notify.rules import AlertStatus, Level
from server.accounts.domain import Actor
from server.accounts.guards import require_role
from server.accounts.roles import ADMIN_ROLES
from server.cases.scope import visibility_sql
from server.errors import DomainError
from server.http import ERROR_RESPONSES
from server.types import DbId

__all__ = ["AlertController"]

# District admins read the district's alerts, unit leaders those of their units' cases.
_ALERT_READERS = ADMIN_ROLES | {"unit_leader"}


class AlertOut(msgspec.Struct, kw_only=True):
    id: int
    case_id: uuid.UUID
    ticket: str
    level: Level
    recipient_user_id: int | None
    recipient: str
    channel: str
    status: AlertStatus
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    error: str


class AlertList(msgspec.Struct):
    alerts: list[AlertOut]


class OutboxMessageOut(msgspec.Struct, kw_only=True, rename={"to_": "to"}):
    id: int
    alert_id: int
    to_: str
    text: str
    created_at: datetime


class OutboxList(msgspec.Struct):
    messages: list[OutboxMessageOut]


class AlertController(Controller):
    path = "/"
    tags = ["alerts"]

    @get("/alerts", operation_id="listAlerts", responses=ERROR_RESPONSES)
    async def alerts(
        self,
        actor: NamedDependency[Actor],
        case_id: FromQuery[uuid.UUID | None] = None,
        level: FromQuery[Level | None] = None,
        status: FromQuery[AlertStatus | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 200,
    ) -> AlertList:
        """Alerts of the cases in the caller's scope, newest first; never one about an accusation
        against the caller or their units."""
        require_role(actor, _ALERT_READERS, "read alerts")
        rows = await queries.list_alerts(
            visibility_sql(actor), {"case_id": case_id, "level": level, "status": status}, limit
        )
        return AlertList(alerts=msgspec.convert(rows, list[AlertOut]))

    @post(
        "/alerts/{alert_id:int}/retry", operation_id="retryAlert", status_code=204, responses=ERROR_RESPONSES
    )
    async def retry(self, actor: NamedDependency[Actor], alert_id: FromPath[DbId]) -> None:
        """A district admin sends a failed alert again (the receiver is fixed); the worker takes it
        at its next pass, attempts counted afresh."""
        require_role(actor, ADMIN_ROLES, "retry alerts")
        if not await queries.retry_failed(alert_id, actor.district_id):
            raise DomainError(
                "alert_not_failed", f"no failed alert {alert_id} in this district", "alert_id", 404
            )

    @get("/outbox", operation_id="listOutbox", responses=ERROR_RESPONSES)
    async def outbox(
        self,
        actor: NamedDependency[Actor],
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 200,
    ) -> OutboxList:
        """Messages "sent" while their recipient had no delivery URL, newest first (district admins)."""
        require_role(actor, ADMIN_ROLES, "read the outbox")
        rows = await queries.list_outbox(actor.district_id, limit)
        return OutboxList(messages=[OutboxMessageOut(to_=r.pop("to"), **r) for r in rows])
