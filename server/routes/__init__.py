"""Every route of the API, gathered for `server.app.create_app`."""

from geo.routes import GEO_ROUTES
from server.routes.auth import AuthController, DeviceController
from server.routes.calendars import CalendarController
from server.routes.cases import TRANSITION_ROUTES, CaseController
from sync.routes import PhotoController, SyncController

__all__ = ["ROUTES"]

ROUTES = [AuthController, DeviceController, CalendarController, CaseController, *TRANSITION_ROUTES, SyncController, PhotoController, *GEO_ROUTES]
