/*
 * Vigil status page refresher.
 *
 * The page works without this script; it only keeps an open tab current.
 * Every 20 seconds it:
 *   1. asks /status/text/ for the general status and updates
 *      window.STATUS_GENERAL when it changed;
 *   2. asks / again, conditionally (If-None-Match with the revision of the
 *      page on screen, so an unchanged page costs a bodiless 304), and when a
 *      newer page comes back, swaps in its <aside> and <main>.
 * Step 2 is what catches per-node changes and the "refreshed" time even
 * while the general status stays the same. Across a swap, the folds the
 * visitor opened stay open and a focused replica box, row of daily bars or
 * daily bar keeps the focus (nodes may have moved: failing ones come
 * first). Each request gives up after
 * 5 s; errors are ignored until the next round. Hidden tabs are not polled;
 * a tab that becomes visible again is checked at once if a round was missed.
 *
 * It also lets the keyboard walk the daily bars: a row of bars is one tab
 * stop; in it, the left and right arrows, Home and End move between days
 * (each day's tooltip shows while it has the focus) and Escape returns to
 * the row.
 */
(function () {
  "use strict";

  var PERIOD = 20000;
  var TIMEOUT = 5000;

  if (typeof window.fetch !== "function" || typeof window.DOMParser !== "function") {
    return;
  }

  var timer = null;
  var running = false;
  var lastRound = Date.now();

  function get(url, headers) {
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var deadline = setTimeout(function () {
      if (controller) {
        controller.abort();
      }
    }, TIMEOUT);
    return fetch(url, {
      headers: headers || {},
      cache: "no-store",
      credentials: "same-origin",
      signal: controller ? controller.signal : undefined
    }).then(function (response) {
      if (response.status !== 200) {
        return { status: response.status, body: "" };
      }
      return response.text().then(function (body) {
        return { status: 200, body: body };
      });
    }).finally(function () {
      clearTimeout(deadline);
    });
  }

  function revision() {
    var main = document.querySelector("main");
    return main ? main.getAttribute("data-revision") : null;
  }

  // serviceOf returns the id of the service card around el ("" if none).
  function serviceOf(el) {
    var section = el.closest("section");
    var anchor = section ? section.querySelector("h2 a[id]") : null;
    return anchor ? anchor.id : "";
  }

  // replicaKey names a replica box by its service, its node's name and its
  // number, which survive a refresh even when the nodes are reordered.
  function replicaKey(box) {
    var node = box.parentNode.parentNode;
    var name = node.querySelector("p");
    return serviceOf(box) + "\n" + (name && name.firstChild ? name.firstChild.textContent : "") +
      "\n" + box.firstChild.textContent;
  }

  // focusKey names a focusable element that a refresh keeps focused: a
  // replica box, a row of daily bars or one bar (by its service and
  // position); null for anything else.
  function focusKey(el) {
    if (el.matches(".nodes ol > li")) {
      return "replica\n" + replicaKey(el);
    }
    if (el.matches(".days")) {
      return "days\n" + serviceOf(el);
    }
    if (el.matches(".days i")) {
      return "day\n" + serviceOf(el) + "\n" + Array.prototype.indexOf.call(el.closest(".days").querySelectorAll("i"), el);
    }
    return null;
  }

  // foldKey names a fold by its service and kind (nodes folded, nodes'
  // history).
  function foldKey(d) {
    return serviceOf(d) + "\n" + d.className;
  }

  // swap replaces <aside> and <main> with those of the fetched page when it
  // is a different revision. Folds the visitor opened stay open, and
  // keyboard focus on a replica box stays on that replica.
  function swap(html) {
    var next = new DOMParser().parseFromString(html, "text/html");
    var nextAside = next.querySelector("aside");
    var nextMain = next.querySelector("main");
    var aside = document.querySelector("aside");
    var main = document.querySelector("main");
    if (!nextAside || !nextMain || !aside || !main) {
      return;
    }
    if (nextMain.getAttribute("data-revision") === revision()) {
      return;
    }
    var open = {};
    main.querySelectorAll("details[open]").forEach(function (d) {
      open[foldKey(d)] = true;
    });
    var focused = document.activeElement;
    var key = focused && main.contains(focused) ? focusKey(focused) : null;

    nextMain.querySelectorAll("details").forEach(function (d) {
      if (open[foldKey(d)]) {
        d.open = true;
      }
    });
    aside.replaceWith(document.adoptNode(nextAside));
    main.replaceWith(document.adoptNode(nextMain));

    var status = nextMain.getAttribute("data-status");
    if (status) {
      window.STATUS_GENERAL = status;
    }
    if (key) {
      var candidates = nextMain.querySelectorAll(".nodes ol > li, .days, .days i");
      for (var i = 0; i < candidates.length; i++) {
        if (focusKey(candidates[i]) === key) {
          if (candidates[i].matches(".days i")) {
            focusable(candidates[i]);
          }
          candidates[i].focus({ preventScroll: true });
          break;
        }
      }
    }
  }

  // focusable makes a daily bar focusable (not a tab stop) and names it by
  // its tooltip, for screen readers (completed as the stylesheet does for
  // a healthy day without a class and for days without data).
  function focusable(bar) {
    var tip = bar.getAttribute("data-t") +
      (bar.className === "" ? "\n100.00 % uptime\nNo incidents" : bar.className === "n" ? "\nNo data" : "");
    bar.tabIndex = -1;
    bar.setAttribute("role", "img");
    bar.setAttribute("aria-label", tip.replace(/\n/g, ", "));
  }

  // walkDays moves the focus between the daily bars of a row (see above).
  function walkDays(event) {
    var target = event.target;
    var row = target.closest ? target.closest(".days") : null;
    if (!row || event.altKey || event.ctrlKey || event.metaKey) {
      return;
    }
    if (event.key === "Escape" && target !== row) {
      row.focus();
      event.preventDefault();
      return;
    }
    var bars = Array.prototype.filter.call(row.querySelectorAll("i"), function (bar) {
      return bar.offsetParent !== null; // phones show fewer days
    });
    var at = target === row ? bars.length : bars.indexOf(target);
    var next;
    switch (event.key) {
      case "ArrowLeft": next = at - 1; break;
      case "ArrowRight": next = target === row ? bars.length - 1 : at + 1; break;
      case "Home": next = 0; break;
      case "End": next = bars.length - 1; break;
      default: return;
    }
    event.preventDefault();
    var bar = bars[Math.max(0, Math.min(bars.length - 1, next))];
    if (bar) {
      focusable(bar);
      bar.focus();
    }
  }

  document.addEventListener("keydown", walkDays);

  function round() {
    running = true;
    lastRound = Date.now();
    var changed = false;
    return get("/status/text/")
      .then(function (res) {
        var general = res.status === 200 ? res.body.trim() : "";
        if (general && general !== window.STATUS_GENERAL) {
          window.STATUS_GENERAL = general;
          changed = true;
        }
      }, function () {})
      .then(function () {
        var current = revision();
        var headers = !changed && current ? { "If-None-Match": '"' + current + '"' } : {};
        return get("/", headers);
      })
      .then(function (res) {
        if (res.status === 200) {
          swap(res.body);
        }
      }, function () {})
      .finally(function () {
        running = false;
        schedule(PERIOD);
      });
  }

  function schedule(delay) {
    clearTimeout(timer);
    timer = setTimeout(function () {
      if (document.hidden) {
        timer = null; // resumed by visibilitychange
        return;
      }
      round();
    }, delay);
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && !running && timer === null) {
      schedule(Math.max(0, PERIOD - (Date.now() - lastRound)));
    }
  });

  schedule(PERIOD);
})();
