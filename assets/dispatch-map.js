// The console's map (an iframe of /map/dispatch) says which request marker was clicked; open that
// request's drawer by pressing its queue button, the same control the keyboard uses.
(function () {
  window.addEventListener("message", function (e) {
    if (e.origin !== window.location.origin || !e.data || e.data.type !== "th-open-request") return;
    var ref = String(e.data.reference || "");
    if (!/^[A-Za-z0-9-]{1,32}$/.test(ref)) return;
    var button = document.getElementById("open-" + ref);
    if (button) { button.click(); button.focus(); }
  });
})();
