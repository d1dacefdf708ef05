"""The demo district's grids as GeoJSON: 1 city, 1 district, 2 streets, 6 communities, 36 cells.

The district is a lattice of 6 × 6 cells west of the Bund (about 31.23 N, 121.47 E). Its inner
vertices are shifted by a fixed pseudo-random amount so the cells look like city blocks rather
than squares, while every polygon is built from the same shared vertices: the cells tile their
community exactly, the communities their street, the streets the district, with no gap and no
overlap. Street 1 is the western half, street 2 the eastern; each holds three communities of
3 × 2 cells. The street offices (`street-1`, `street-2`) are responsible for their streets,
communities and cells; `worker1` owns the cells of the first community of street 1, `worker2`
those of the first community of street 2, and the other cells have no grid worker.
"""

from __future__ import annotations

import random
from typing import Any

__all__ = ["demo_feature_collection"]

_WEST, _SOUTH = 121.450, 31.215
_STEP_LON, _STEP_LAT = 0.0060, 0.0050  # about 570 m × 555 m per cell
_COLS = _ROWS = 6
_COMMUNITY_COLS, _COMMUNITY_ROWS = 3, 2
_JITTER = 0.22  # of a step, so no vertex crosses its neighbours
_Vertex = tuple[float, float]


def _lattice() -> list[list[_Vertex]]:
    rng = random.Random(20261123)
    rows = []
    for r in range(_ROWS + 1):
        row = []
        for c in range(_COLS + 1):
            lon, lat = _WEST + c * _STEP_LON, _SOUTH + r * _STEP_LAT
            if 0 < r < _ROWS and 0 < c < _COLS:
                lon += rng.uniform(-_JITTER, _JITTER) * _STEP_LON
                lat += rng.uniform(-_JITTER, _JITTER) * _STEP_LAT
            row.append((round(lon, 6), round(lat, 6)))
        rows.append(row)
    return rows


def _block(v: list[list[_Vertex]], c0: int, r0: int, c1: int, r1: int) -> dict[str, Any]:
    """The polygon of cells [c0, c1) × [r0, r1), counter-clockwise through every lattice vertex."""
    ring = [v[r0][c] for c in range(c0, c1 + 1)]
    ring += [v[r][c1] for r in range(r0 + 1, r1 + 1)]
    ring += [v[r1][c] for c in range(c1 - 1, c0 - 1, -1)]
    ring += [v[r][c0] for r in range(r1 - 1, r0 - 1, -1)]
    return {"type": "Polygon", "coordinates": [[list(p) for p in ring]]}


def _feature(
    code: str,
    name: str,
    level: str,
    parent: str | None,
    unit: str | None,
    workers: list[str],
    geometry: dict[str, Any],
) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": code,
        "geometry": geometry,
        "properties": {
            "code": code,
            "name": name,
            "level": level,
            "parent": parent,
            "unit": unit,
            "workers": workers,
        },
    }


def demo_feature_collection() -> dict[str, Any]:
    v = _lattice()
    city = {
        "type": "Polygon",
        "coordinates": [
            [[121.40, 31.18], [121.54, 31.18], [121.54, 31.28], [121.40, 31.28], [121.40, 31.18]]
        ],
    }
    features = [
        _feature("city", "Demo City", "city", None, None, [], city),
        _feature("D1", "Demo District", "district", "city", None, [], _block(v, 0, 0, _COLS, _ROWS)),
    ]
    street_cols = _COLS // 2
    for s in (1, 2):
        street = f"D1-S{s}"
        c0 = (s - 1) * street_cols
        features.append(
            _feature(
                street,
                f"Street {s}",
                "street",
                "D1",
                f"street-{s}",
                [],
                _block(v, c0, 0, c0 + street_cols, _ROWS),
            )
        )
        for k in range(_ROWS // _COMMUNITY_ROWS):
            community = f"{street}-C{k + 1}"
            r0 = k * _COMMUNITY_ROWS
            features.append(
                _feature(
                    community,
                    f"Street {s} community {k + 1}",
                    "community",
                    street,
                    f"street-{s}",
                    [],
                    _block(v, c0, r0, c0 + street_cols, r0 + _COMMUNITY_ROWS),
                )
            )
            n = 0
            for r in range(r0, r0 + _COMMUNITY_ROWS):
                for c in range(c0, c0 + _COMMUNITY_COLS):
                    n += 1
                    workers = [f"worker{s}"] if k == 0 else []
                    features.append(
                        _feature(
                            f"{community}-{n:02d}",
                            f"Cell {n} of {community}",
                            "cell",
                            community,
                            f"street-{s}",
                            workers,
                            _block(v, c, r, c + 1, r + 1),
                        )
                    )
    return {"type": "FeatureCollection", "features": features}
