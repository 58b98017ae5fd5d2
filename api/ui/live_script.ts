/**
 * The `/ui` overview's only script, inlined in the page (and allowed by
 * its hash in the page's Content-Security-Policy). It opens
 * `/allocations/stream` with the page's filters and, at every snapshot and
 * change, updates in place the counts, the pool cells shown, every pool
 * group's summary, the rows of this page and the "Needs attention" list,
 * by the rules of `overview.ts`
 * (thresholds come from the page's `data-` attributes). Text goes in with
 * `textContent` and attributes with `setAttribute`: nothing the stream
 * says is parsed as HTML. Without it (or without JavaScript) the page is
 * the static render of its time.
 *
 * @example
 * ```tsx
 * <script>{raw(LIVE_SCRIPT)}</script>
 * ```
 * @module
 */

/** See the module documentation. */
export const LIVE_SCRIPT = `"use strict";
(function () {
  var body = document.body;
  var streamPath = body.getAttribute("data-stream");
  if (!streamPath || !window.EventSource) return;
  var threshold = Number(body.getAttribute("data-threshold"));
  var limit = Number(body.getAttribute("data-limit"));
  var status = document.querySelector('[data-testid="live-status"]');
  var here = new URLSearchParams(location.search);
  var filters = new URLSearchParams();
  ["namespace", "pod", "node", "lb", "type"].forEach(function (k) {
    here.getAll(k).forEach(function (v) { if (v.trim()) filters.append(k, v.trim()); });
  });
  var rows = new Map();
  var pools = new Map();
  var first = null;
  var states = ["NotReady", "Waiting"];

  function $(selector) { return Array.prototype.slice.call(document.querySelectorAll(selector)); }
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { if (attrs[k] != null) e.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) {
      e.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return e;
  }
  function use(p) {
    var size = p.used + p.free + p.delayed;
    return size === 0 ? 1 : (p.used + p.delayed) / size;
  }
  function band(p) {
    var u = use(p);
    return p.free === 0 ? 4 : u >= threshold ? 3 : u >= 0.75 ? 2 : u >= 0.5 ? 1 : 0;
  }
  function rowState(r) { return r.holding || r.state || "unknown"; }
  function portsText(ports) {
    return ports.map(function (p) { return p.port + "/" + p.protocol; }).join(", ");
  }
  function podHref(r) {
    return "/ui/pods/" + encodeURIComponent(r.namespace) + "/" + encodeURIComponent(r.pod);
  }
  function poolHref(p) {
    return "/ui?" + (p.kind === "node" ? "node" : "lb") + "=" + encodeURIComponent(p.key);
  }
  function poolTitle(p) {
    return ((p.type || "") + " " + p.range + (p.protocol ? "/" + p.protocol : "")).trim();
  }
  function poolNumbers(p) {
    return p.used + " used, " + p.free + " free, " + p.delayed + " delayed";
  }
  function cmp(a, b) { return a < b ? -1 : a > b ? 1 : 0; }
  function byName(a, b) { return cmp(a.namespace, b.namespace) || cmp(a.pod, b.pod); }
  function why(r) {
    if (!r.reason) return [];
    return [" ", el("span", { class: "why" }, [el("b", {}, [r.reason]), " " + (r.message || "")])];
  }
  function stateSpan(s) { return el("span", { class: "state s-" + s }, [s]); }
  function setText(root, field, text) {
    var e = root.querySelector('[data-f="' + field + '"]');
    if (e && e.textContent !== text) e.textContent = text;
  }
  function link(query) {
    var q = new URLSearchParams(filters);
    query.forEach(function (s) { q.append("state", s); });
    return "/ui?" + q;
  }
  function more(n, what, href) {
    var text = "and " + n + " more " + what;
    return el("li", { "data-kind": "more" }, [href ? el("a", { href: href }, [text]) : text]);
  }

  function counts() {
    var byState = {};
    rows.forEach(function (r) { var s = rowState(r); byState[s] = (byState[s] || 0) + 1; });
    var full = 0;
    pools.forEach(function (p) { if (use(p) >= threshold) full++; });
    $("[data-count]").forEach(function (e) {
      var k = e.getAttribute("data-count");
      var v = k === "total" ? rows.size : k === "pools" ? pools.size : k === "pools-full" ? full
        : k.indexOf("state:") === 0 ? byState[k.slice(6)] || 0 : null;
      if (v !== null) e.textContent = String(v);
    });
  }

  function groupTitle(p) {
    return (p.type || "?") + " · " + p.kind + " · " + p.range + (p.protocol ? "/" + p.protocol : "") +
      (p.rangeName ? " (" + p.rangeName + ")" : "");
  }

  // The cells stay where the page put them (fullest first as it was made): only what they say changes.
  function poolCells() {
    $('[data-testid="pool-cell"]').forEach(function (cell) {
      var p = pools.get(cell.getAttribute("data-pool-id"));
      if (!p) { cell.classList.add("gone"); return; }
      cell.className = "c u" + band(p);
      cell.style.setProperty("--w", Math.round(use(p) * 100) + "%");
      var a = cell.querySelector("a"), small = cell.querySelector("small");
      var nums = poolNumbers(p);
      if (a.getAttribute("title") !== nums) a.setAttribute("title", nums);
      var text = p.used + "/" + p.free + "/" + p.delayed;
      if (small.textContent !== text) small.textContent = text;
    });
  }

  function groupSummaries() {
    var sums = new Map();
    pools.forEach(function (p) {
      var t = groupTitle(p);
      var s = sums.get(t);
      if (!s) sums.set(t, s = { pools: 0, used: 0, free: 0, delayed: 0, b0: 0, b1: 0, b2: 0, b3: 0, b4: 0 });
      s.pools++;
      s.used += p.used;
      s.free += p.free;
      s.delayed += p.delayed;
      s["b" + band(p)]++;
    });
    $('[data-testid="pool-group"]').forEach(function (g) {
      var s = sums.get(g.getAttribute("data-group")) || {};
      g.querySelectorAll("[data-g]").forEach(function (e) {
        var text = String(s[e.getAttribute("data-g")] || 0);
        if (e.textContent !== text) e.textContent = text;
      });
    });
  }

  function serverRows() {
    $('[data-testid="server-row"]').forEach(function (tr) {
      var r = rows.get(tr.getAttribute("data-id"));
      if (!r) { tr.classList.add("gone"); tr.setAttribute("data-state", "gone"); return; }
      tr.classList.remove("gone");
      setText(tr, "where", r.node || r.lb || "");
      setText(tr, "address", r.address || "");
      setText(tr, "ports", portsText(r.ports));
      var s = rowState(r);
      if (tr.getAttribute("data-state") !== s || r.reason) {
        tr.setAttribute("data-state", s);
        tr.querySelector('[data-f="state"]').replaceChildren.apply(
          tr.querySelector('[data-f="state"]'), [stateSpan(s)].concat(why(r)));
      }
    });
  }

  function attention() {
    var servers = [], full = [], admissions = [];
    rows.forEach(function (r) {
      if (r.holding === "admission") admissions.push(r);
      else if (!r.holding && states.indexOf(r.state) >= 0) servers.push(r);
    });
    pools.forEach(function (p) { if (use(p) >= threshold) full.push(p); });
    servers.sort(function (a, b) {
      return states.indexOf(a.state) - states.indexOf(b.state) || byName(a, b);
    });
    full.sort(function (a, b) {
      return (a.free === 0 ? 0 : 1) - (b.free === 0 ? 0 : 1) || use(b) - use(a) ||
        cmp(a.kind, b.kind) || cmp(a.key, b.key) || cmp(a.range, b.range);
    });
    admissions.sort(byName);
    var items = [];
    servers.slice(0, limit).forEach(function (r) {
      var name = r.namespace + "/" + r.pod;
      items.push(el("li", {
        "data-testid": "attention-item", "data-kind": "server", "data-id": r.id,
        "data-pod": name, "data-state": r.state,
      }, [el("a", { href: podHref(r) }, [name]), " ", stateSpan(r.state)].concat(why(r))));
    });
    if (servers.length > limit) {
      items.push(more(servers.length - limit, "game servers NotReady or Waiting", link(states)));
    }
    full.slice(0, limit).forEach(function (p) {
      items.push(el("li", { "data-testid": "attention-item", "data-kind": "pool", "data-id": p.id }, [
        el("a", { href: poolHref(p) }, [p.kind + " " + p.key]), " ",
        el("span", {}, [poolTitle(p)]), " ",
        el("b", {}, [p.free === 0 ? "exhausted" : Math.floor(use(p) * 100) + " % used"]), " ",
        el("span", { class: "muted" }, [poolNumbers(p)]),
      ]));
    });
    if (full.length > limit) items.push(more(full.length - limit, "full pools"));
    admissions.slice(0, limit).forEach(function (r) {
      var where = r.node ? " on " + r.node : r.lb ? " on " + r.lb : "";
      items.push(el("li", { "data-testid": "attention-item", "data-kind": "admission", "data-id": r.id }, [
        el("span", {}, [r.namespace + "/" + r.pod]), " ",
        "admitted, holds " + (portsText(r.ports) || "no port") + where + "; its Pod is not seen yet",
      ]));
    });
    if (admissions.length > limit) {
      items.push(more(admissions.length - limit, "admissions without a Pod", link(["admission"])));
    }
    var list = document.querySelector('[data-testid="attention-list"]');
    list.replaceChildren.apply(list, items);
    var conflicts = $('[data-kind="conflict"]').length;
    var n = servers.length + full.length + admissions.length + conflicts;
    $('[data-count="attention"]').forEach(function (e) { e.textContent = String(n); });
    document.querySelector('[data-testid="attention-none"]').hidden = n > 0;
  }

  function notice() {
    var added = 0;
    rows.forEach(function (_, id) { if (!first.has(id)) added++; });
    var e = document.querySelector('[data-testid="live-notice"]');
    e.hidden = added === 0;
    e.textContent = added === 0 ? "" : added + " game servers added since this page was made: reload to list them.";
  }

  function apply(generatedAt) {
    if (!first) first = new Set(rows.keys());
    counts();
    poolCells();
    groupSummaries();
    serverRows();
    attention();
    notice();
    status.textContent = "Live, as of " + new Date(generatedAt).toLocaleTimeString() + ".";
  }

  var q = String(filters);
  var source = new EventSource(streamPath + (q ? "?" + q : ""));
  source.addEventListener("snapshot", function (e) {
    var d = JSON.parse(e.data);
    rows.clear();
    pools.clear();
    d.allocations.forEach(function (r) { rows.set(r.id, r); });
    d.pools.forEach(function (p) { pools.set(p.id, p); });
    apply(d.generatedAt);
  });
  source.addEventListener("changes", function (e) {
    var d = JSON.parse(e.data);
    d.removed.forEach(function (id) { rows.delete(id); });
    d.removedPools.forEach(function (id) { pools.delete(id); });
    d.allocations.forEach(function (r) { rows.set(r.id, r); });
    d.pools.forEach(function (p) { pools.set(p.id, p); });
    apply(d.generatedAt);
  });
  source.onerror = function () { status.textContent = "Disconnected: reconnecting…"; };
})();
`;
