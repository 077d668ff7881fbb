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
 * visitor opened stay open and a focused replica box keeps the focus (nodes
 * may have moved: failing ones come first). Each request gives up after
 * 5 s; errors are ignored until the next round. Hidden tabs are not polled;
 * a tab that becomes visible again is checked at once if a round was missed.
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
      open[serviceOf(d)] = true;
    });
    var focused = document.activeElement;
    var focusKey = focused && main.contains(focused) && focused.matches(".nodes ol > li") ? replicaKey(focused) : null;

    nextMain.querySelectorAll("details").forEach(function (d) {
      if (open[serviceOf(d)]) {
        d.open = true;
      }
    });
    aside.replaceWith(document.adoptNode(nextAside));
    main.replaceWith(document.adoptNode(nextMain));

    var status = nextMain.getAttribute("data-status");
    if (status) {
      window.STATUS_GENERAL = status;
    }
    if (focusKey) {
      var boxes = nextMain.querySelectorAll(".nodes ol > li");
      for (var i = 0; i < boxes.length; i++) {
        if (replicaKey(boxes[i]) === focusKey) {
          boxes[i].focus({ preventScroll: true });
          break;
        }
      }
    }
  }

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
