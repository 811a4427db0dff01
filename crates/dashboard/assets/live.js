// engage dashboard: live refresh and the range picker. No dependencies, no build step.
// Every few seconds the view is fetched again as an HTML fragment (/dashboard/view with the
// page's own query) and swapped in; the page itself is never reloaded.
(function () {
  "use strict";
  var view = document.getElementById("view");
  var status = document.getElementById("live-status");
  var every = Number(document.body.getAttribute("data-refresh-ms")) || 5000;
  var refreshes = 0;

  function setStatus(text, stale) {
    if (!status) return;
    status.textContent = text;
    document.body.classList.toggle("stale", !!stale);
  }

  function clock() {
    return new Date().toISOString().slice(11, 19) + " UTC";
  }

  function refresh() {
    if (document.hidden) {
      schedule();
      return;
    }
    fetch("/dashboard/view" + window.location.search, {
      cache: "no-store",
      headers: { Accept: "text/html" },
    })
      .then(function (resp) {
        // Signed out (or the session expired): reload, which shows the sign-in form.
        if (resp.status === 401) window.location.reload();
        if (!resp.ok) throw new Error("HTTP " + resp.status);
        return resp.text();
      })
      .then(function (html) {
        view.innerHTML = html;
        refreshes += 1;
        document.body.setAttribute("data-refreshes", String(refreshes));
        setStatus("updated " + clock(), false);
      })
      .catch(function (e) {
        setStatus("cannot refresh (" + e.message + "), retrying", true);
      })
      .then(schedule);
  }

  function schedule() {
    window.setTimeout(refresh, every);
  }

  // The range picker: presets apply at once; "custom" shows the from/to inputs.
  var form = document.getElementById("controls");
  if (form) {
    var range = form.elements.namedItem("range");
    var toggle = function () {
      form.classList.toggle("custom", range.value === "custom");
    };
    range.addEventListener("change", function () {
      toggle();
      if (range.value !== "custom") form.submit();
    });
    toggle();
  }

  setStatus("updated " + clock(), false);
  schedule();
})();
