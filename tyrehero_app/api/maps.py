"""Map pages (folium) embedded by the Reflex pages with an iframe. Leaflet is served by the app
itself from the npm packages in .tools/, so maps work on a closed network; tiles come from
TILE_URL and the markers render even when tiles cannot load.

What people typed (names, van labels, places) reaches tooltips and popups only as text nodes: Leaflet
treats a string given to bindTooltip/bindPopup as HTML, so the map code hands it elements whose
textContent was set (`_TEXT_JS`). Each map page also has its own CSP: scripts only from us or carrying
the response's nonce, so injected markup could not run a handler even if some slipped through.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

import folium
from fastapi import APIRouter, FastAPI, Query
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from folium.plugins import Realtime
from folium.utilities import JsCode

from core.config import get_settings
from core.geo.places import in_service_area, service_area_geojson
from core.requests.tracking import track
from tyrehero_app.api.csp import map_csp
from tyrehero_app.api.deps import CurrentDispatcher
from tyrehero_app.runtime import get_core

ROOT = Path(__file__).resolve().parents[2]
NODE = ROOT / ".tools" / "node_modules"

folium.Map.default_js = [("leaflet", "/vendor/leaflet/leaflet.js")]
folium.Map.default_css = [("leaflet_css", "/vendor/leaflet/leaflet.css")]
Realtime.default_js = [("Leaflet_Realtime_js", "/vendor/leaflet-realtime/leaflet-realtime.js")]

router = APIRouter(include_in_schema=False)

# Builds tooltip/popup content from lines of text: every value becomes a text node, never markup.
# lines: [[text, bold?], ...]; null/undefined/"" lines are skipped.
_TEXT_JS = """
      var thText = function (lines) {
        var box = document.createElement('div');
        lines.forEach(function (line) {
          if (line[0] === null || line[0] === undefined || line[0] === '') return;
          if (box.childNodes.length) box.appendChild(document.createElement('br'));
          var el = document.createElement(line[1] ? 'b' : 'span');
          el.textContent = String(line[0]);
          box.appendChild(el);
        });
        return box;
      };
"""

# Customer = blue dot, van = amber dot; the style comes from each feature's properties.
_POINT_TO_LAYER = JsCode(
    """
    function (feature, latlng) {
      var p = feature.properties;"""
    + _TEXT_JS
    + """
      var m = L.circleMarker(latlng, {radius: p.radius || 9, color: '#fff', weight: 3,
        fillColor: p.color || '#2563eb', fillOpacity: 1});
      if (p.label) m.bindTooltip(thText([[p.label, false]]));
      return m;
    }
    """
)


def mount_vendor(app: FastAPI) -> None:
    """Serve Leaflet and leaflet-realtime from their npm packages."""
    for name, sub in (("leaflet", "leaflet/dist"), ("leaflet-realtime", "leaflet-realtime/dist")):
        folder = NODE / sub
        if folder.is_dir():
            app.mount(f"/vendor/{name}", StaticFiles(directory=folder), name=f"vendor-{name}")


def base_map(lat: float, lng: float, zoom: int) -> folium.Map:
    m = folium.Map(location=[lat, lng], zoom_start=zoom, tiles=None, control_scale=True, prefer_canvas=False)
    folium.TileLayer(get_settings().tile_url, attr="© OpenStreetMap contributors", name="map", control=False).add_to(m)
    m.get_root().header.add_child(folium.Element(
        "<style>html,body{margin:0;background:#e8eaed}.leaflet-container{background:#e8eaed}</style>"))
    return m


def _html(m: folium.Map) -> HTMLResponse:
    """The page with a nonce on each of its (folium's) scripts and a policy that runs only those."""
    nonce = secrets.token_urlsafe(16)
    page = m.get_root().render().replace("<script", f'<script nonce="{nonce}"')
    return HTMLResponse(page, headers={"Cache-Control": "no-store",
                                       "Content-Security-Policy": map_csp(get_settings(), nonce)})


_STATUS_COLORS = JsCode(
    """
    function (feature, latlng) {
      var p = feature.properties;"""
    + _TEXT_JS
    + """
      var techColors = {available: '#16a34a', assigned: '#2563eb', en_route: '#7c3aed', on_site: '#0891b2',
                        break: '#9ca3af'};
      var reqColors = {1: '#dc2626', 2: '#ea580c', 3: '#f59e0b', 4: '#ca8a04'};
      var isReq = p.kind === 'request';
      var color = isReq ? (reqColors[p.priority] || '#f59e0b') : (techColors[p.status] || '#6b7280');
      var m = isReq
        ? L.circleMarker(latlng, {radius: 8, color: '#111827', weight: 2, fillColor: color, fillOpacity: 0.95})
        : L.circleMarker(latlng, {radius: 5, color: '#ffffff', weight: 1, fillColor: color,
                                  fillOpacity: p.stale ? 0.4 : 0.95});
      var words = {pending: 'waiting for a van', assigned: 'job offered', en_route: 'on the way',
                   on_site: 'on site', available: 'available', break: 'on a break'};
      if (isReq) {
        // Clicking a request opens its drawer in the console around this map.
        m.bindTooltip(thText([[p.reference, true], ['P' + p.priority + ' · ' + (words[p.status] || p.status), false],
                              [p.label, false], ['waiting ' + p.waited_min + ' min', false]]));
        m.on('click', function () {
          window.parent.postMessage({type: 'th-open-request', reference: p.reference}, window.location.origin);
        });
      } else {
        m.bindPopup(thText([[p.name, true], [words[p.status] || p.status, false], [p.van, false]]));
      }
      return m;
    }
    """
)
_HEX_STYLE = JsCode(
    """
    function (feature) {
      var p = feature.properties;
      if (p.risk) return {color: '#dc2626', weight: 1, fillColor: '#dc2626', fillOpacity: 0.25};
      if (p.open > p.available) return {color: '#ea580c', weight: 1, fillColor: '#f59e0b', fillOpacity: 0.3};
      return {color: '#16a34a', weight: 0.5, fillColor: '#22c55e',
              fillOpacity: Math.min(0.1 + p.available * 0.05, 0.35)};
    }
    """
)
_HEX_POPUP = JsCode(
    """
    function (feature, layer) {
      var p = feature.properties;
      var el = document.createElement('span');
      el.textContent = p.available + ' available · ' + p.open + ' open' +
        (p.best_eta_min === null ? ' · no van in reach' : ' · best ETA ' + p.best_eta_min + ' min') +
        (p.risk ? ' · SLA at risk' : '');
      layer.bindTooltip(el);
    }
    """
)


@router.get("/map/dispatch")
def dispatch_map(who: CurrentDispatcher) -> HTMLResponse:
    """The console's live map: H3 supply/demand and coverage risk under moving markers."""
    m = base_map(54.3, -3.0, 6)
    # The service area's outline: the country's shape is visible even when tiles cannot load.
    folium.GeoJson(service_area_geojson(), name="service area", interactive=False, control=False,
                   style_function=lambda _f: {"color": "#9ca3af", "weight": 1, "fillColor": "#f8fafc",
                                              "fillOpacity": 0.9}).add_to(m)
    coverage = Realtime({"url": "/api/v1/dispatch/hexes.geojson", "credentials": "same-origin"}, interval=5000,
                        get_feature_id=JsCode("function (f) { return f.properties.id; }"), style=_HEX_STYLE,
                        on_each_feature=_HEX_POPUP, remove_missing=True)
    coverage.layer_name = "Coverage areas"
    coverage.add_to(m)
    # Requests and vans as two layers (same feed, filtered), so the layer switch shows or hides each.
    for name, kind in (("Vans", "technician"), ("Requests", "request")):
        layer = Realtime({"url": "/api/v1/dispatch/live.geojson", "credentials": "same-origin"}, interval=1500,
                         get_feature_id=JsCode("function (f) { return f.properties.id; }"),
                         point_to_layer=_STATUS_COLORS,
                         filter=JsCode(f"function (f) {{ return f.properties.kind === '{kind}'; }}"),
                         remove_missing=True)
        layer.layer_name = name  # Realtime names itself "Realtime"; the layer switch shows this
        layer.add_to(m)
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    return _html(m)


@router.get("/map/point")
def point_map(
    lat: Annotated[float, Query(ge=-90, le=90)], lng: Annotated[float, Query(ge=-180, le=180)]
) -> HTMLResponse:
    """A small map showing where we understood the driver to be."""
    m = base_map(lat, lng, 13 if in_service_area(lat, lng) else 5)
    folium.CircleMarker([lat, lng], radius=10, color="#fff", weight=3, fill=True, fill_color="#2563eb",
                        fill_opacity=1, tooltip="You are here").add_to(m)
    return _html(m)


@router.get("/map/track/{token}")
def tracking_map(
    token: Annotated[str, PathParam(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")],
) -> HTMLResponse:
    """The customer's live map: their point and the van, moved in place every 2 s."""
    view = track(get_core(), token)
    c = view.customer_position
    m = base_map(c.lat, c.lng, 11)
    Realtime(
        {"url": f"/api/v1/requests/track/{token}/live.geojson", "credentials": "same-origin"},
        interval=2000,
        get_feature_id=JsCode("function (f) { return f.properties.id; }"),
        point_to_layer=_POINT_TO_LAYER,
        remove_missing=True,
        start=True,
    ).add_to(m)
    return _html(m)
