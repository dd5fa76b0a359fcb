// tickwork-web: live updates from the scheduler's events (Server-Sent Events).
// Served as a file: the Content-Security-Policy allows no inline script.
(function () {
  "use strict";
  var body = document.body;
  var status = document.getElementById("live-status");

  // A long tick log starts scrolled to its newest ticks (on the right).
  function showNewestTicks() {
    var wrap = document.querySelector(".timeline-wrap");
    if (wrap) {
      wrap.scrollLeft = wrap.scrollWidth;
    }
  }
  showNewestTicks();

  if (!body || body.dataset.live !== "1" || !window.EventSource || !window.fetch) {
    return;
  }
  var page = body.dataset.page;
  var jobId = body.dataset.jobId;
  var timer = null;
  var busy = false;
  var last = 0;
  // A busy scheduler sends many events a second: the page reloads its live part at
  // most once every MIN_GAP milliseconds.
  var MIN_GAP = 3000;

  function concerns(event) {
    if (page === "overview" || page === "jobs" || page === "runs") {
      return true;
    }
    if (page === "job") {
      return event.job_id === jobId || event.job_id === null;
    }
    return false;
  }

  function editing() {
    // Never replace a form the user is typing into or a section they opened.
    var active = document.activeElement;
    if (active && (active.tagName === "INPUT" || active.tagName === "SELECT" || active.tagName === "TEXTAREA")) {
      return true;
    }
    return document.querySelector("details[open]") !== null;
  }

  function reload() {
    timer = null;
    if (busy || editing()) {
      schedule();
      return;
    }
    busy = true;
    last = Date.now();
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("status " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var regions = document.querySelectorAll("[data-live-region]");
        Array.prototype.forEach.call(regions, function (region) {
          var replacement = fresh.getElementById(region.id);
          if (replacement) {
            region.replaceWith(document.importNode(replacement, true));
          }
        });
        showNewestTicks();
        body.dataset.refreshed = String(Date.now());
      })
      .catch(function () { /* the next event tries again */ })
      .then(function () { busy = false; });
  }

  function schedule() {
    if (timer === null) {
      var wait = Math.max(500, MIN_GAP - (Date.now() - last));
      timer = window.setTimeout(reload, wait);
    }
  }

  var source = new EventSource((body.dataset.root || "") + "/api/events");
  source.onopen = function () {
    if (status) { status.className = "live on"; status.textContent = "live"; }
    // What happened between drawing the page (or losing the stream) and now came
    // before any event could reach us (a run started with "run now" may have ended
    // already): refresh the live parts once.
    schedule();
  };
  source.onerror = function () {
    if (status) { status.className = "live lost"; status.textContent = "reconnecting"; }
  };
  source.onmessage = function (message) {
    var event;
    try {
      event = JSON.parse(message.data);
    } catch (error) {
      return;
    }
    if (concerns(event)) {
      schedule();
    }
  };
})();
