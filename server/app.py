"""The one place the Litestar application is assembled."""

from __future__ import annotations

import logging

from litestar import Litestar
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router

from admin.controllers import CONSOLE_PAGE_DIR, ConsoleController, GridImportController, RankingController
from geo.addresses.controllers import AddressController, PlacementController
from geo.addresses.search import AddressRegister
from geo.assign import cell_at
from geo.controllers import GEO_ROUTES
from notify.controllers import AlertController
from notify.worker import BackgroundWorker, worker_config
from server.accounts.controllers import AuthController, DeviceController
from server.accounts.service import provide_actor
from server.calendar.controllers import CalendarController
from server.cases.controllers import CaseController, CaseTransitionController
from server.citizens.controllers import (
    ComplainantController,
    ReportController,
    TrackController,
)
from server.db import close_pool, start_pool
from server.http import EXCEPTION_HANDLERS, note_answer
from server.open311.controllers import ApiKeyController, Open311Controller
from server.photos.controllers import PhotoController
from server.photos.storage import photo_store_from
from server.settings import ROOT, Settings, get_settings
from sync.controllers import SyncController
from sync.watch import watch

__all__ = ["create_app"]

SWAGGER_ASSETS = "/schema/assets"
# Installed by `make` (`npm ci`, package.json): a Swagger UI that renders OpenAPI 3.1.
SWAGGER_DIST = ROOT / "node_modules" / "swagger-ui-dist"
# The map console's own files, and the npm packages it loads (Leaflet and its marker clusters).
CONSOLE_LIBS = {
    "/admin/lib/leaflet": ROOT / "node_modules" / "leaflet" / "dist",
    "/admin/lib/markercluster": ROOT / "node_modules" / "leaflet.markercluster" / "dist",
}


def _openapi() -> OpenAPIConfig:
    # The bundled docs page would load Swagger UI from a CDN these machines cannot reach.
    swagger = SwaggerRenderPlugin(
        path="/",
        js_url=f"{SWAGGER_ASSETS}/swagger-ui-bundle.js",
        css_url=f"{SWAGGER_ASSETS}/swagger-ui.css",
        standalone_preset_js_url=f"{SWAGGER_ASSETS}/swagger-ui-standalone-preset.js",
        favicon=f'<link rel="icon" href="{SWAGGER_ASSETS}/favicon-32x32.png">',
    )
    return OpenAPIConfig(
        title="Gridcase API",
        version="0.1.0",
        description="Citizen cases from intake to closing: case API, offline sync for handhelds, grids.",
        path="/schema",
        render_plugins=[swagger],
        components=Components(
            security_schemes={
                "bearer": SecurityScheme(type="http", scheme="bearer", description="POST /auth/login")
            },
        ),
        security=[{"bearer": []}],
    )


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    photo_store = photo_store_from(
        kind=settings.photo_store,
        root=settings.photo_dir,
        endpoint=settings.minio_endpoint,
        access_key=settings.minio_access_key,
        secret_key=settings.minio_secret_key,
        bucket=settings.minio_bucket,
        secure=settings.minio_secure,
        region=settings.minio_region,
        max_size=settings.photo_max_bytes,
    )

    alert_worker = BackgroundWorker(worker_config(settings)) if settings.alert_worker else None

    async def open_database() -> None:
        await start_pool()
        # Each worker process listens for sync changes on a connection of its own.
        await watch.start()
        if alert_worker is not None:
            await alert_worker.start()

    async def close_database() -> None:
        if alert_worker is not None:
            await alert_worker.stop()
        await watch.stop()
        await close_pool()

    address_book = AddressRegister(settings)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not (SWAGGER_DIST / "swagger-ui-bundle.js").exists():
        logging.getLogger(__name__).warning("%s is missing: /schema renders blank; run `make`", SWAGGER_DIST)
    assets = create_static_files_router(
        path=SWAGGER_ASSETS,
        directories=[SWAGGER_DIST],
        include_in_schema=False,
        name="swagger-assets",
    )
    console_files = [
        create_static_files_router(
            path=path,
            directories=[directory],
            include_in_schema=False,
            name=f"console{path.replace('/', '-')}",
        )
        for path, directory in {"/admin/assets": CONSOLE_PAGE_DIR, **CONSOLE_LIBS}.items()
    ]
    return Litestar(
        route_handlers=[
            AuthController,
            DeviceController,
            CalendarController,
            CaseController,
            CaseTransitionController,
            SyncController,
            PhotoController,
            AlertController,
            *GEO_ROUTES,
            AddressController,
            PlacementController,
            Open311Controller,
            ApiKeyController,
            ReportController,
            TrackController,
            ComplainantController,
            assets,
            ConsoleController,
            RankingController,
            GridImportController,
            *console_files,
        ],
        dependencies={
            "actor": Provide(provide_actor),
            "settings": Provide(lambda: settings, sync_to_thread=False),
            "photo_store": Provide(lambda: photo_store, sync_to_thread=False),
            # Intake places a point in its cell through geo, which the case context does not import.
            "locate_cell": Provide(lambda: cell_at, sync_to_thread=False),
            # ... and geocodes a typed address (or names a GPS point) through geo's address register.
            "address_book": Provide(lambda: address_book, sync_to_thread=False),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        after_request=note_answer,
        openapi_config=_openapi(),
        on_startup=[open_database],
        on_shutdown=[close_database],
        request_max_body_size=settings.sync_max_body_bytes,
    )
