"""The driver's maps, embedded by the request form and the tracking page with an iframe (Leaflet served by
the app itself, see `maps`).

- `/map/point`: where we understood the driver to be, with a pin they can drag (or tap the map) to their
  exact spot. The map page writes the pin's position into the form's `#pin` field (same origin), whose
  change event tells the form's state: no script of the form's page is involved.
- `/map/track/<token>`: "You" and the van (first name, registration) labelled, both kept in view, and a
  line between them while the van is on its way; polled every 2 s from the tracking GeoJSON.

Labels are set as text (`textContent`), never as markup: see `maps._TEXT_JS`.
"""

from __future__ import annotations

import json
from typing import Annotated

import folium
from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse

from core.geo.places import in_service_area
from core.requests.tracking import track
from tyrehero_app.api.maps import _html, base_map
from tyrehero_app.runtime import get_core

router = APIRouter(include_in_schema=False)

# Both scripts run once folium's own (which define the map) have run: they come first in the page.
# The pin: draggable, also moved by a tap on the map; each move is written into the parent form's #pin field
# with the native value setter and an input event, which is how React hears of a change it did not make.
_PIN_JS = """
document.addEventListener('DOMContentLoaded', function () {
  var map = %(map)s, start = L.latLng(%(lat)f, %(lng)f);
  if (%(approximate)s) {
    L.circle(start, {radius: 3000, color: '#b45309', weight: 1, fillColor: '#f59e0b', fillOpacity: 0.12,
                     interactive: false}).addTo(map);
  }
  var pin = L.marker(start, {draggable: true, autoPan: true, title: 'Your position', alt: 'Your position'})
    .addTo(map);
  var tip = document.createElement('span');
  tip.textContent = %(tip)s;
  pin.bindTooltip(tip, {permanent: true, direction: 'top', offset: [0, -36]});
  function tell(ll) {
    try {
      var field = parent.document.getElementById('pin');
      if (!field || parent === window) return;
      var setter = Object.getOwnPropertyDescriptor(parent.HTMLInputElement.prototype, 'value').set;
      setter.call(field, ll.lat.toFixed(6) + ',' + ll.lng.toFixed(6));
      field.dispatchEvent(new parent.Event('input', {bubbles: true}));
    } catch (e) { /* not embedded by our form */ }
  }
  pin.on('dragend', function () { tell(pin.getLatLng()); });
  map.on('click', function (e) { pin.setLatLng(e.latlng); tell(e.latlng); });
});
"""

# The tracking map: two labelled markers updated in place, the view fitted to both, a line while en route.
_TRACK_JS = """
document.addEventListener('DOMContentLoaded', function () {
  var map = %(map)s, url = %(url)s, layers = {}, line = null, fitted = '';
  function label(text) { var el = document.createElement('span'); el.textContent = text; return el; }
  function place(f) {
    var p = f.properties, ll = L.latLng(f.geometry.coordinates[1], f.geometry.coordinates[0]);
    var m = layers[p.id];
    if (!m) {
      m = L.circleMarker(ll, {radius: p.radius || 9, color: '#fff', weight: 3, fillColor: p.color, fillOpacity: 1});
      m.bindTooltip(label(p.label), {permanent: true, direction: 'top', offset: [0, -8],
                                     className: 'th-label th-label-' + p.id});
      m.addTo(map);
      layers[p.id] = m;
    } else {
      m.setLatLng(ll);
      m.setTooltipContent(label(p.label));
    }
    return m;
  }
  function tick() {
    fetch(url, {credentials: 'same-origin'}).then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) return;
        var seen = {}, pts = [], route = false;
        data.features.forEach(function (f) {
          seen[f.properties.id] = place(f);
          pts.push(seen[f.properties.id].getLatLng());
          route = route || !!f.properties.route;
        });
        Object.keys(layers).forEach(function (id) {
          if (!seen[id]) { map.removeLayer(layers[id]); delete layers[id]; }
        });
        if (route && seen.van && seen.customer) {
          var path = [seen.van.getLatLng(), seen.customer.getLatLng()];
          if (line) line.setLatLngs(path);
          else line = L.polyline(path, {color: '#7c3aed', weight: 4, dashArray: '8 8', interactive: false}).addTo(map);
        } else if (line) { map.removeLayer(line); line = null; }
        var key = Object.keys(seen).sort().join(',');
        var outside = pts.some(function (ll) { return !map.getBounds().pad(-0.1).contains(ll); });
        if (pts.length > 1 && (key !== fitted || outside)) {
          map.fitBounds(L.latLngBounds(pts), {padding: [48, 48], maxZoom: 15});
        } else if (pts.length === 1 && key !== fitted) {
          map.setView(pts[0], 13);
        }
        fitted = key;
      }).catch(function () {});
  }
  tick();
  setInterval(tick, 2000);
});
"""

_LABEL_CSS = (
    "<style>.th-label{font:600 13px system-ui,sans-serif;color:#111827;border:1px solid #111827;padding:2px 6px}"
    ".th-label-van{background:#fef3c7}</style>"
)


@router.get("/map/point")
def point_map(lat: Annotated[float, Query(ge=-90, le=90)], lng: Annotated[float, Query(ge=-180, le=180)],
              approximate: bool = False) -> HTMLResponse:
    """Where we understood the driver to be, with a pin they can move to their exact spot."""
    m = base_map(lat, lng, (12 if approximate else 15) if in_service_area(lat, lng) else 5)
    tip = "Drag me to where you are" if approximate else "You are here — drag to adjust"
    m.get_root().script.add_child(folium.Element(_PIN_JS % {
        "map": m.get_name(), "lat": lat, "lng": lng, "approximate": "true" if approximate else "false",
        "tip": json.dumps(tip)}))
    m.get_root().header.add_child(folium.Element(_LABEL_CSS))
    return _html(m)


@router.get("/map/track/{token}")
def tracking_map(token: Annotated[str, PathParam(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")],
                 ) -> HTMLResponse:
    """The customer's live map: "You" and the van labelled, both in view, the route line while en route."""
    view = track(get_core(), token)
    c = view.customer_position
    m = base_map(c.lat, c.lng, 13)
    m.get_root().script.add_child(folium.Element(_TRACK_JS % {
        "map": m.get_name(), "url": json.dumps(f"/api/v1/requests/track/{token}/live.geojson")}))
    m.get_root().header.add_child(folium.Element(_LABEL_CSS))
    return _html(m)
