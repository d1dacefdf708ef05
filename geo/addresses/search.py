"""Search the address register as the agent types, geocode at intake, and find the nearest entry.

Search normalises the query (`normalise`, with the district's own prefixes) and takes, through
their indexes, up to `_POOL` entries that bear one of its door-plate numbers and the `_POOL`
whose names are nearest its names (word similarity of at least `_RECALL`); `ranking.rank`
orders them. Every candidate comes with its cell, the cell's unit and grid workers,
in the same statement.

Nearest entry: the GiST index on `geom` orders entries by planar distance (`<->`); the few
nearest are re-measured on the sphere, since a degree of longitude is shorter than one of latitude.
"""

from __future__ import annotations

from typing import Any

import msgspec

from geo.addresses.normalise import names_of, normalise, plates_of
from geo.addresses.ranking import Kind, Scored, clear_best, rank
from geo.addresses.register import district_prefixes
from server.cases.domain import AddressMatch
from server.cases.intake import Geocoded
from server.db import fetch
from server.settings import Settings

__all__ = ["AddressRegister", "Candidate", "Worker", "candidate_args", "nearest_entry", "search"]

# Word similarity a candidate's names need: low enough for a wrong character in a short name.
_RECALL = 0.3
# How many of the most similar entries the ranking sees.
_POOL = 50
# How many nearest entries by planar distance are re-measured on the sphere.
_NEAREST_POOL = 8


class Worker(msgspec.Struct, frozen=True):
    id: int
    name: str


class Candidate(msgspec.Struct, frozen=True, kw_only=True):
    """A register entry answering a search: where it is and who is responsible there."""

    id: int
    kind: Kind
    label: str
    score: float
    lat: float
    lon: float
    grid_id: int | None
    grid_code: str | None
    unit_id: int | None
    unit_name: str | None
    workers: list[Worker]


# Two ways in, each through its own index: the entries with a door-plate number the query names
# (GIN on `plates`: a door on its road, whatever the road's spelling), and the entries whose names
# are nearest the query's by word-similarity distance (GiST trigram walk on `names`, which stops
# after `_POOL`; a distance of at most 1 - `_RECALL`).
_CANDIDATES = """
WITH hits AS (
    (SELECT id FROM addresses
     WHERE district_id = {} AND plates && {}::text[]
     ORDER BY word_similarity({}, names) DESC, id LIMIT {})
    UNION
    (SELECT id FROM (SELECT id, {} <<-> names AS distance FROM addresses
                     WHERE district_id = {} ORDER BY {} <<-> names LIMIT {}) nearest
     WHERE distance <= {} AND {} <> '')
)
SELECT a.id, a.kind, a.label, a.norm, ST_Y(a.geom) AS lat, ST_X(a.geom) AS lon, a.grid_id,
       g.code AS grid_code, g.unit_id, u.name AS unit_name,
       coalesce((SELECT json_agg(json_build_array(w.user_id, p.name) ORDER BY w.user_id)
                 FROM grid_workers w JOIN app_users p ON p.id = w.user_id
                 WHERE w.grid_id = a.grid_id), '[]')::text AS workers
FROM hits JOIN addresses a ON a.id = hits.id
LEFT JOIN grids g ON g.id = a.grid_id
LEFT JOIN units u ON u.id = g.unit_id
"""
_WORKERS = msgspec.json.Decoder(list[tuple[int, str]])


def candidate_args(district_id: int, query: str) -> tuple:
    """The arguments of `_CANDIDATES` for a normalised query (also what the benchmark explains)."""
    words = query.split()
    plates, names = plates_of(words), names_of(words)
    return district_id, plates, names, _POOL, names, district_id, names, _POOL, 1 - _RECALL, names


async def _ranked(district_id: int, text: str) -> tuple[list[str], list[tuple[Scored, dict[str, Any]]]]:
    """The query's tokens, and the candidates ranked with their rows."""
    query = normalise(text, await district_prefixes(district_id))
    if not query:
        return [], []
    rows = await fetch(_CANDIDATES, *candidate_args(district_id, query))
    by_id = {r["id"]: r for r in rows}
    pool = [
        Scored(
            id=r["id"],
            kind=r["kind"],
            label=r["label"],
            tokens=tuple(r["norm"].split()),
            lat=r["lat"],
            lon=r["lon"],
            score=0.0,
        )
        for r in rows
    ]
    return query.split(), [(s, by_id[s.id]) for s in rank(query.split(), pool)]


async def search(district_id: int, text: str, limit: int = 10) -> list[Candidate]:
    """The best `limit` entries for what was typed, best first (`ranking` says how)."""
    out = []
    for scored, row in (await _ranked(district_id, text))[1][:limit]:
        workers = [Worker(id=i, name=n) for i, n in _WORKERS.decode(row["workers"])]
        out.append(
            Candidate(
                id=scored.id,
                kind=scored.kind,
                label=scored.label,
                score=scored.score,
                lat=scored.lat,
                lon=scored.lon,
                grid_id=row["grid_id"],
                grid_code=row["grid_code"],
                unit_id=row["unit_id"],
                unit_name=row["unit_name"],
                workers=workers,
            )
        )
    return out


async def nearest_entry(district_id: int, lat: float, lon: float, max_m: float) -> AddressMatch | None:
    """The register entry nearest the point, if within `max_m` metres."""
    rows = await fetch(
        "SELECT id, label, d FROM ("
        "  SELECT id, label, ST_Distance(geom::geography, p::geography) AS d FROM addresses, "
        "       ST_SetSRID(ST_MakePoint({}, {}), 4326) AS p"
        "  WHERE district_id = {} ORDER BY geom <-> p LIMIT {}) n "
        "WHERE d <= {} ORDER BY d, id LIMIT 1",
        lon,
        lat,
        district_id,
        _NEAREST_POOL,
        max_m,
    )
    if not rows:
        return None
    return AddressMatch(entry_id=rows[0]["id"], label=rows[0]["label"], distance_m=round(rows[0]["d"], 1))


class AddressRegister:
    """The register as intake uses it (`server.cases.intake.AddressBook`), with the settings'
    thresholds: a clear match, and how far the nearest entry may be."""

    __slots__ = ("_agree_m", "_margin", "_max_m", "_min_score")

    def __init__(self, settings: Settings) -> None:
        self._min_score = settings.geocode_min_score
        self._margin = settings.geocode_min_margin
        self._agree_m = settings.geocode_agree_m
        self._max_m = settings.reverse_geocode_max_m

    async def geocode(self, district_id: int, address: str) -> Geocoded | None:
        query, ranked = await _ranked(district_id, address)
        best = clear_best(
            query,
            [s for s, _ in ranked],
            min_score=self._min_score,
            margin=self._margin,
            agree_m=self._agree_m,
        )
        if best is None:
            return None
        match = AddressMatch(entry_id=best.id, label=best.label, score=best.score)
        return Geocoded(match=match, lat=best.lat, lon=best.lon)

    async def nearest(self, district_id: int, lat: float, lon: float) -> AddressMatch | None:
        return await nearest_entry(district_id, lat, lon, self._max_m)
