// The technician phone's service worker (registered by /tech-alerts.js, scope /): a job offer pushed by the
// server (core/notify/push.py) shows as a notification, and any open /tech page refreshes its offer at once.
// The payload: {title, body, url: "/tech", reference, request_id}.
self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

function techClients() {
  return self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (all) {
    return all.filter(function (c) { return new URL(c.url).pathname.replace(/\/+$/, "") === "/tech"; });
  });
}

self.addEventListener("push", function (event) {
  var offer = {};
  try { offer = event.data ? event.data.json() : {}; } catch (e) { offer = { body: event.data && event.data.text() }; }
  var title = offer.title || "TyreHero job offer";
  var shown = self.registration.showNotification(title, {
    body: offer.body || "A new job is waiting for you. Open TyreHero to answer.",
    tag: offer.reference || "tyrehero-offer",
    renotify: true,
    requireInteraction: true,
    data: { url: offer.url || "/tech", reference: offer.reference || "" },
  });
  var told = techClients().then(function (list) {
    list.forEach(function (c) { c.postMessage({ type: "tyrehero-offer", reference: offer.reference || "" }); });
  });
  event.waitUntil(Promise.all([shown, told]));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var url = (event.notification.data && event.notification.data.url) || "/tech";
  event.waitUntil(techClients().then(function (list) {
    if (list.length) return list[0].focus();
    return self.clients.openWindow(url);
  }));
});
