"""The map console (DESIGN §8, §12 `/admin`): the page itself and the endpoints only it uses.

Everything else the page shows comes through the same API as every other client.
"""

from pathlib import Path
from typing import Annotated

import msgspec
from litestar import Controller, MediaType, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter

from admin import queries
from admin.rankings import Ranking, SortKey
from admin.service import ranking, ranking_csv
from geo.importer import ImportReport, import_grids
from server.accounts.domain import Actor
from server.accounts.guards import require_role
from server.accounts.roles import ADMIN_ROLES
from server.errors import DomainError
from server.http import ERROR_RESPONSES
from server.settings import Settings

__all__ = ["CONSOLE_PAGE_DIR", "ConsoleController", "GridImportController", "RankingController"]

CONSOLE_PAGE_DIR = Path(__file__).parent / "static"
# Who may open the console: the district office, and unit leaders for their own units.
CONSOLE_USERS = ADMIN_ROLES | {"unit_leader"}
_MONTH = Annotated[str, QueryParameter(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")]


class ConsoleConfig(msgspec.Struct):
    # An XYZ tile URL, or "" for a plain background.
    tile_url: str
    roles: list[str]
    ranking_min_closed: int


class DirectoryUnit(msgspec.Struct):
    id: int
    name: str
    parent_id: int | None


class DirectoryCategory(msgspec.Struct):
    id: int
    code: str
    name: str
    name_zh: str


class DirectoryUser(msgspec.Struct):
    id: int
    name: str
    role: str
    unit_id: int | None


class Directory(msgspec.Struct):
    units: list[DirectoryUnit]
    categories: list[DirectoryCategory]
    users: list[DirectoryUser]


class ConsoleController(Controller):
    path = "/admin"
    tags = ["console"]
    include_in_schema = False

    @get("/", media_type=MediaType.HTML, cache_control=None)
    async def page(self) -> Response[bytes]:
        return Response((CONSOLE_PAGE_DIR / "index.html").read_bytes(), media_type=MediaType.HTML)

    @get("/config", operation_id="consoleConfig")
    async def config(self, settings: NamedDependency[Settings]) -> ConsoleConfig:
        """What the page needs before logging in: the base map, who may log in."""
        return ConsoleConfig(
            tile_url=settings.map_tile_url,
            roles=sorted(CONSOLE_USERS),
            ranking_min_closed=settings.ranking_min_closed,
        )

    @get("/directory", operation_id="consoleDirectory", responses=ERROR_RESPONSES, include_in_schema=True)
    async def directory(self, actor: NamedDependency[Actor]) -> Directory:
        """Units, categories and people of the caller's district, for the console's filters and forms."""
        require_role(actor, CONSOLE_USERS, "open the console")
        return msgspec.convert(await queries.directory(actor.district_id), Directory)


class RankingController(Controller):
    path = "/admin/rankings"
    tags = ["console"]

    @get("/", operation_id="unitRanking", responses=ERROR_RESPONSES)
    async def ranking(
        self,
        actor: NamedDependency[Actor],
        settings: NamedDependency[Settings],
        month: _MONTH,
        sort: FromQuery[SortKey] = "rank",
        descending: FromQuery[bool] = True,
    ) -> Ranking:
        """Each unit's figures for a month from the case event log; units with fewer closed cases
        than the fair minimum are listed apart and never ranked."""
        require_role(actor, CONSOLE_USERS, "read rankings")
        return await ranking(actor.district_id, month, settings.ranking_min_closed, sort, descending)

    @get("/csv", operation_id="unitRankingCsv", responses=ERROR_RESPONSES, media_type="text/csv")
    async def ranking_csv(
        self,
        actor: NamedDependency[Actor],
        settings: NamedDependency[Settings],
        month: _MONTH,
        sort: FromQuery[SortKey] = "rank",
        descending: FromQuery[bool] = True,
    ) -> Response[bytes]:
        """The same table as CSV in UTF-8 with a byte-order mark (spreadsheets read Chinese right)."""
        require_role(actor, CONSOLE_USERS, "read rankings")
        result = await ranking(actor.district_id, month, settings.ranking_min_closed, sort, descending)
        return Response(
            ranking_csv(result),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="ranking-{month}.csv"'},
        )


# A district's grid file: tens of thousands of cells fit well within this.
_GRID_FILE_BYTES = 64 * 1024 * 1024


class GridImportController(Controller):
    """Grid import from the console: the CLI's validation report first (nothing stored), then the
    import itself once the admin confirms (district admins only)."""

    path = "/admin/grids"
    tags = ["console"]

    @post(
        "/import",
        operation_id="importGrids",
        status_code=200,
        responses=ERROR_RESPONSES,
        request_max_body_size=_GRID_FILE_BYTES,
    )
    async def import_file(
        self, actor: NamedDependency[Actor], request: Request, commit: FromQuery[bool] = False
    ) -> ImportReport:
        """A GeoJSON FeatureCollection as the body; `commit=false` checks and reports only. Any
        error rolls the whole import back, as on the command line."""
        require_role(actor, ADMIN_ROLES, "import grids")
        data = await request.body()
        if not data:
            raise DomainError("empty_file", "send the GeoJSON file as the request body", "body", 422)
        return await import_grids(actor.district_id, data, commit=commit)
