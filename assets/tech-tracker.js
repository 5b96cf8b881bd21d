// Sends the technician's position while on shift: every ~10 s, or sooner after 50 m of movement.
// Positions taken while offline are queued in localStorage and sent as one batch when the
// connection returns; the server keeps the newest by its recorded time.
(function () {
  var KEY = "th-position-queue";
  var state = { watch: null, lastSent: 0, last: null, flushing: false };

  function queue() { try { return JSON.parse(localStorage.getItem(KEY) || "[]"); } catch (e) { return []; } }
  function save(q) { localStorage.setItem(KEY, JSON.stringify(q.slice(-500))); }
  function metres(a, b) {
    var r = 6371000, p1 = a.lat * Math.PI / 180, p2 = b.lat * Math.PI / 180;
    var dp = p2 - p1, dl = (b.lng - a.lng) * Math.PI / 180;
    var h = Math.sin(dp / 2) ** 2 + Math.cos(p1) * Math.cos(p2) * Math.sin(dl / 2) ** 2;
    return 2 * r * Math.asin(Math.sqrt(h));
  }
  function flush() {
    var q = queue();
    if (!q.length || state.flushing || !navigator.onLine) return;
    state.flushing = true;
    fetch("/api/v1/technicians/me/location", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(q),
    }).then(function (r) {
      if (r.ok || r.status === 422) { save(queue().slice(q.length)); state.lastSent = Date.now(); }
    }).catch(function () {}).finally(function () { state.flushing = false; });
  }
  function onFix(p) {
    var fix = { lat: p.coords.latitude, lng: p.coords.longitude, accuracy_m: p.coords.accuracy,
                recorded_at: new Date(p.timestamp || Date.now()).toISOString() };
    var due = Date.now() - state.lastSent > 10000 || !state.last || metres(state.last, fix) > 50;
    if (!due) return;
    state.last = fix;
    var q = queue(); q.push(fix); save(q);
    flush();
  }
  window.thTracker = {
    start: function () {
      if (state.watch !== null || !navigator.geolocation) return !!navigator.geolocation;
      state.watch = navigator.geolocation.watchPosition(onFix, function () {}, { enableHighAccuracy: true, maximumAge: 5000 });
      state.timer = setInterval(function () {
        navigator.geolocation.getCurrentPosition(onFix, function () {}, { maximumAge: 5000 });
        flush();
      }, 10000);
      return true;
    },
    stop: function () {
      if (state.watch !== null) navigator.geolocation.clearWatch(state.watch);
      clearInterval(state.timer); state.watch = null; flush();
    },
    pending: function () { return queue().length; },
  };
  window.addEventListener("online", flush);
})();
