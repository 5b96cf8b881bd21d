"""The technician index: H3 cells in Redis, with a PostgreSQL fallback."""

from core.index.base import Candidate, IndexedTech, Snapshot, TechFilter, TechnicianIndex
from core.index.search import search_nearest

__all__ = ["Candidate", "IndexedTech", "Snapshot", "TechFilter", "TechnicianIndex", "search_nearest"]
