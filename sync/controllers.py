"""HTTP endpoints of the offline sync API: pull, push and verify (DESIGN §12)."""

from __future__ import annotations

from litestar import Controller, post
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody

from server.errors import DomainError
from server.http import ERROR_RESPONSES
from sync.protocol import PullRequest, PullResponse, PushRequest, PushResponse, VerifyRequest, VerifyResponse
from sync.pull import pull
from sync.push import push
from sync.secret import cursor_key
from sync.sessions import SyncCaller, own_device, sync_caller
from sync.verify import verify

__all__ = ["SyncController"]


class SyncController(Controller):
    path = "/sync"
    tags = ["sync"]
    # The same actor as every route's, kept in memory while revocations are pushed (sync.sessions).
    dependencies = {"caller": Provide(sync_caller)}

    @post("/pull", operation_id="syncPull", status_code=200, responses=ERROR_RESPONSES)
    async def pull(self, caller: NamedDependency[SyncCaller], data: JSONBody[PullRequest]) -> PullResponse:
        """Cases in the caller's scope changed since `cursor` (null: a full snapshot, paged), with
        tombstones for cases that left the scope. Repeat while `has_more`; keep the last cursor."""
        actor, memory, settings = caller
        await own_device(data.device_id, actor)
        return await pull(
            actor, data.cursor, min(data.limit, settings.sync_max_pull), cursor_key(settings), memory
        )

    @post("/push", operation_id="syncPush", status_code=200, responses=ERROR_RESPONSES)
    async def push(self, caller: NamedDependency[SyncCaller], data: JSONBody[PushRequest]) -> PushResponse:
        """Apply mutations in order, each exactly once: `applied`, `duplicate` (a replay: the stored
        result), `rejected` (with a code) or `conflict` (the case moved on: the current case)."""
        actor, _, settings = caller
        if len(data.mutations) > settings.sync_max_batch:
            raise DomainError(
                "batch_too_large", f"at most {settings.sync_max_batch} mutations per push", "mutations", 413
            )
        await own_device(data.device_id, actor)
        return await push(actor, data.device_id, data.mutations)

    @post("/verify", operation_id="syncVerify", status_code=200, responses=ERROR_RESPONSES)
    async def verify(
        self, caller: NamedDependency[SyncCaller], data: JSONBody[VerifyRequest]
    ) -> VerifyResponse:
        """Check the phone's copy by its 16 bucket checksums: `ok`, or for each bucket that differs
        every case of it in the caller's scope, to replace that bucket of the copy with."""
        await own_device(data.device_id, caller.actor)
        return await verify(caller.actor, data.buckets, caller.memory)
