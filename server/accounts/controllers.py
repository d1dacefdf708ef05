"""Log in and out, and register a handheld (DESIGN §12)."""

from __future__ import annotations

from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from server.accounts.domain import Actor
from server.accounts.service import (
    DeviceRequest,
    DeviceResponse,
    LoginRequest,
    LoginResponse,
    bearer_token,
    login,
    logout,
    register_device,
)
from server.http import ERROR_RESPONSES
from server.settings import Settings

__all__ = ["AuthController", "DeviceController"]


class AuthController(Controller):
    path = "/auth"
    tags = ["auth"]

    @post("/login", operation_id="login", status_code=200, security=[], responses=ERROR_RESPONSES)
    async def login(
        self, request: Request, settings: NamedDependency[Settings], data: JSONBody[LoginRequest]
    ) -> LoginResponse:
        # Throttled per client address too; behind a proxy, run uvicorn with --proxy-headers.
        address = request.client.host if request.client else "unknown"
        return await login(data, settings, address)

    @post("/logout", operation_id="logout", status_code=204, responses=ERROR_RESPONSES)
    async def logout(self, request: Request) -> None:
        """Revoke the bearer token of this request."""
        await logout(bearer_token(request))


class DeviceController(Controller):
    path = "/devices"
    tags = ["sync"]

    @post("/", operation_id="registerDevice", status_code=201, responses=ERROR_RESPONSES)
    async def register(self, actor: NamedDependency[Actor], data: JSONBody[DeviceRequest]) -> DeviceResponse:
        return await register_device(data, actor)
