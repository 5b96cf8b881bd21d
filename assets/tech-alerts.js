// Offer alerts on the technician's phone: registers the service worker (/tech-sw.js), subscribes to Web Push
// with the server's VAPID key and gives the subscription to the server, which takes the technician from the
// session cookie. Each call answers a code the page turns into words (TechState.alerts_result):
// on | off | dismissed | denied | unsupported | failed | server-off.
// A pushed offer reaches an open page as a message from the worker: the page refreshes at once.
(function () {
  var API = "/api/v1/technicians/me/push-subscriptions";
  var supported = "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
  var registration = null;

  function register() {
    if (!registration) {
      registration = navigator.serviceWorker.register("/tech-sw.js", { scope: "/" }).then(function () {
        return navigator.serviceWorker.ready;
      });
    }
    return registration;
  }
  function keyBytes(b64) {
    var s = (b64 + "===".slice((b64.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(s), out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }
  function call(method, body) {
    return fetch(API, {
      method: method, credentials: "same-origin", headers: { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }
  function sameKey(sub, key) {
    var had = sub.options && sub.options.applicationServerKey;
    if (!had) return true;
    var a = new Uint8Array(had), b = keyBytes(key);
    return a.length === b.length && a.every(function (x, i) { return x === b[i]; });
  }
  function send(sub) {
    return call("POST", sub.toJSON()).then(function (r) {
      return r.ok ? "on" : r.status === 403 ? "server-off" : "failed";
    });
  }

  function status() {
    if (!supported) return Promise.resolve("unsupported");
    if (Notification.permission === "denied") return register().then(function () { return "denied"; });
    return register().then(function (reg) { return reg.pushManager.getSubscription(); }).then(function (sub) {
      // Sent again on every visit: the server may have dropped it (gone), or another technician used this phone.
      return sub && Notification.permission === "granted" ? send(sub) : "off";
    }).catch(function () { return "failed"; });
  }

  function enable() {
    if (!supported) return Promise.resolve("unsupported");
    return Notification.requestPermission().then(function (permission) {
      if (permission === "denied") return "denied";
      if (permission !== "granted") return "dismissed";
      return Promise.all([register(), call("GET")]).then(function (got) {
        var reg = got[0], answer = got[1];
        if (answer.status === 403) return "server-off";
        if (!answer.ok) return "failed";
        return answer.json().then(function (info) {
          return reg.pushManager.getSubscription().then(function (sub) {
            if (sub && sameKey(sub, info.public_key)) return sub;
            return (sub ? sub.unsubscribe() : Promise.resolve()).then(function () {
              return reg.pushManager.subscribe({ userVisibleOnly: true,
                                                 applicationServerKey: keyBytes(info.public_key) });
            });
          }).then(send);
        });
      });
    }).catch(function () { return "failed"; });
  }

  function disable() {
    if (!supported) return Promise.resolve("unsupported");
    return register().then(function (reg) { return reg.pushManager.getSubscription(); }).then(function (sub) {
      if (!sub) return "off";
      return call("DELETE", { endpoint: sub.endpoint }).then(function () { return sub.unsubscribe(); })
        .then(function () { return "off"; });
    }).catch(function () { return "failed"; });
  }

  if (supported) {
    navigator.serviceWorker.addEventListener("message", function (event) {
      if (!event.data || event.data.type !== "tyrehero-offer") return;
      window.thAlerts.lastOffer = event.data.reference;
      var refresh = document.getElementById("offer-refresh");
      if (refresh) refresh.click();
    });
  }
  window.thAlerts = { status: status, enable: enable, disable: disable, lastOffer: null };
})();
