// Reload the page every data-refresh seconds, unless the operator is typing or the
// tab is hidden. No libraries; nothing is fetched from elsewhere.
(function () {
  var secs = parseInt(document.body.getAttribute("data-refresh"), 10);
  if (!(secs > 0)) return;
  function busy() {
    var a = document.activeElement;
    return a && (a.tagName === "INPUT" || a.tagName === "TEXTAREA" || a.tagName === "SELECT") ||
      document.querySelector("details[open]") !== null;
  }
  setInterval(function () {
    if (document.hidden || busy()) return;
    // Drop a one-time flash message from the URL when reloading.
    var u = new URL(window.location.href);
    u.searchParams.delete("flash");
    u.searchParams.delete("err");
    window.location.replace(u.toString());
  }, secs * 1000);
})();
