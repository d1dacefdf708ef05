"""Log in and register a handheld (DESIGN §12)."""

from __future__ import annotations

from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from server.accounts.domain import Actor
from server.accounts.service import (
    DeviceRequest,
    DeviceResponse,
    LoginRequest,
    LoginResponse,
    login,
    register_device,
)
from server.http import ERROR_RESPONSES
from server.settings import Settings

__all__ = ["AuthController", "DeviceController"]


class AuthController(Controller):
    path = "/auth"
    tags = ["auth"]

    @post("/login", operation_id="login", status_code=200, security=[], responses=ERROR_RESPONSES)
    async def login(self, settings: NamedDependency[Settings], data: JSONBody[LoginRequest]) -> LoginResponse:
        return await login(data, settings.token_ttl_hours)


class DeviceController(Controller):
    path = "/devices"
    tags = ["sync"]

    @post("/", operation_id="registerDevice", status_code=201, responses=ERROR_RESPONSES)
    async def register(self, actor: NamedDependency[Actor], data: JSONBody[DeviceRequest]) -> DeviceResponse:
        return await register_device(data, actor)
