"""The cells of the Redis index's levels: disks and their distance bounds, the centres coarser levels
hold a technician at, and the GEO score Redis gives a position. Pure functions, cached: a lookup
and a ping each use several."""

from __future__ import annotations

from functools import lru_cache

import h3
import numpy as np

from core.geo.places import EAST, NORTH, SOUTH, WEST
from core.geo.sphere import cell_radius_km, haversine_km_many

# A point of a coarse cell's descendants lies within 1.053 x the cell's circumradius of its centre
# (H3 children overhang their parent; measured over the UK). The margin keeps covers lower bounds.
COARSE_OVERHANG = 1.10
FINE_MARGIN = 1.01
# A coarser level holds a technician at a cell's centre (see `snap_res`); its searches widen by that
# resolution's circumradius: the largest over the service area, times this.
CENTRE_MARGIN = 1.01


@lru_cache(maxsize=100_000)
def disk(cell: str, k: int, fine: bool) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray, int]:
    """A disk's cells, then the cells just outside it: centres (radians), reach (km), and the split."""
    inner = h3.grid_disk(cell, k)
    cells = inner + h3.grid_ring(cell, k + 1) + h3.grid_ring(cell, k + 2)
    centres = np.radians([h3.cell_to_latlng(c) for c in cells])
    if fine:
        # Neighbouring cells of one resolution differ in size by under 0.1 % (measured over the UK).
        reach = np.full(len(cells), cell_radius_km(cell) * FINE_MARGIN)
    else:
        reach = np.array([cell_radius_km(c) * COARSE_OVERHANG for c in cells])
    return tuple(inner), centres[:, 0].copy(), centres[:, 1].copy(), reach, len(inner)


@lru_cache(maxsize=100_000)
def area_km2(cell: str) -> float:
    """A cell's area: the density probe's denominator."""
    return float(h3.cell_area(cell, "km^2"))


# Redis's GEO encoding (geohash.c): 26 bits of latitude in the even bits, 26 of longitude in the odd.
_GEO_LAT_MIN, _GEO_LAT_MAX = -85.05112878, 85.05112878


def _spread(x: int) -> int:
    x = (x | (x << 16)) & 0x0000FFFF0000FFFF
    x = (x | (x << 8)) & 0x00FF00FF00FF00FF
    x = (x | (x << 4)) & 0x0F0F0F0F0F0F0F0F
    x = (x | (x << 2)) & 0x3333333333333333
    return (x | (x << 1)) & 0x5555555555555555


def geo_holds(lat: float, lng: float) -> bool:
    """Whether Redis GEO sets can hold the position."""
    return _GEO_LAT_MIN <= lat <= _GEO_LAT_MAX and -180.0 <= lng <= 180.0


def geo_score(lat: float, lng: float) -> int:
    """The score `GEOADD` gives a position: the sets then take a plain ZADD, which costs Redis less."""
    if not geo_holds(lat, lng):
        raise ValueError(f"position outside what Redis GEO sets hold: {lat!r}, {lng!r}")
    la = int((lat - _GEO_LAT_MIN) / (_GEO_LAT_MAX - _GEO_LAT_MIN) * 67108864.0)
    lo = int((lng + 180.0) / 360.0 * 67108864.0)
    return _spread(la) | (_spread(lo) << 1)


def snap_res(level: int, fine_res: int) -> int:
    """The resolution whose cell centre stands for a technician in a level's sets."""
    return min(fine_res, level + 2)


@lru_cache(maxsize=1 << 18)
def cell_part(levels: tuple[int, ...], parent_res: int, cell: str) -> str:
    """What a line says of a fine cell: "cell parent cscore,… cell …" (the coarser levels' cells)."""
    scores = []
    for lv in levels[1:]:
        snap = h3.cell_to_parent(cell, snap_res(lv, levels[0]))
        if cell_radius_km(snap) > centre_slack_km(snap_res(lv, levels[0])):
            scores.append("=")  # a larger cell than the service area's (abroad): the exact position, every ping
        else:
            scores.append(str(geo_score(*h3.cell_to_latlng(snap))))
    up = " ".join(h3.cell_to_parent(cell, lv) for lv in levels[1:])
    return f"{cell} {h3.cell_to_parent(cell, parent_res)} {','.join(scores)} {up}"


@lru_cache(maxsize=16)
def centre_slack_km(res: int) -> float:
    """How far a technician may be from the centre of its cell of a resolution: the largest
    circumradius of that resolution's cells over the service area and a degree around it (sampled
    every 0.1 degree; neighbouring cells differ in size by under 0.1 %), with a margin."""
    lats = np.arange(SOUTH - 1.0, NORTH + 1.0, 0.1)
    lngs = np.arange(WEST - 1.0, EAST + 1.0, 0.1)
    cells = {h3.latlng_to_cell(float(a), float(b), res) for a in lats for b in lngs}
    return max(cell_radius_km(c) for c in cells) * CENTRE_MARGIN


def lower_bounds_km(lat: float, lng: float, clat: np.ndarray, clng: np.ndarray, reach: np.ndarray) -> np.ndarray:
    """Lower bounds (km) of the distance from the point to anything in each cell."""
    bounds: np.ndarray = haversine_km_many(lat, lng, clat, clng) - reach
    return bounds

