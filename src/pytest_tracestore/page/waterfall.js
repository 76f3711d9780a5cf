// The trace page of pytest-tracestore: a list of traces grouped by test, a
// waterfall per trace, a details panel per span.  Every piece of data goes
// into the DOM through textContent, setAttribute or a numeric style, never
// as markup.  A trace's rows are built only when it is opened.
(function () {
  "use strict";

  var data = JSON.parse(document.getElementById("tracestore-data").textContent);
  var S = data.strings;
  var F = {};
  data.fields.forEach(function (name, i) { F[name] = i; });
  var base = BigInt(data.base);
  var traces = data.traces;

  var main = document.querySelector('[data-role="traces"]');
  var details = document.querySelector('[data-role="details"]');
  var search = document.querySelector('[data-role="search"]');
  var errorsOnly = document.querySelector('[data-role="errors-only"]');
  var counter = document.querySelector('[data-role="count"]');

  var state = { query: "", errors: false };
  var items = [];          // trace index -> its list element
  var testText = [];       // trace index -> its test, lower case
  var haystacks = [];      // trace index -> each span's searchable text, made on first search
  var opened = new Map();  // trace index -> {root, rows, collapsed}
  var sections = [];
  var hues = new Map();
  var selected = null;

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function plural(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }

  function duration(ns) {
    if (ns < 1e3) return Math.round(ns) + "ns";
    if (ns < 1e6) return (ns / 1e3).toFixed(1) + "us";
    if (ns < 1e9) return (ns / 1e6).toFixed(1) + "ms";
    if (ns < 6e10) return (ns / 1e9).toFixed(2) + "s";
    var minutes = Math.floor(ns / 6e10);
    return minutes + "m" + ((ns - minutes * 6e10) / 1e9).toFixed(1).padStart(4, "0") + "s";
  }

  function moment(offset) {
    try {
      var ns = base + BigInt(Math.round(offset));
      return new Date(Number(ns / 1000000n)).toISOString().replace("T", " ");
    } catch (e) {  // a timestamp past the calendar's range (a corrupt file)
      return (base + BigInt(Math.round(offset))).toString() + "ns";
    }
  }

  // Services get hues apart from each other and from the red of ERROR bars.
  function colour(service) {
    var n = hues.get(service);
    if (n === undefined) { n = hues.size; hues.set(service, n); }
    return "hsl(" + Math.round(30 + (190 + n * 137.508) % 300) + ",55%,47%)";
  }

  function text(value) { return typeof value === "string" ? value : JSON.stringify(value); }

  function pairs(flat) {
    var out = [];
    for (var i = 0; i < flat.length; i += 2) out.push([S[flat[i]], flat[i + 1]]);
    return out;
  }

  // -- filtering ----------------------------------------------------------

  function spanTexts(ti) {
    if (!haystacks[ti]) {
      haystacks[ti] = traces[ti].spans.map(function (sp) {
        var parts = [S[sp[F.name]], S[sp[F.service]], sp[F.error_type]];
        pairs(sp[F.attributes]).forEach(function (kv) { parts.push(kv[0] + "=" + text(kv[1])); });
        return parts.join("\n").toLowerCase();
      });
    }
    return haystacks[ti];
  }

  function filtering() { return state.query !== "" || state.errors; }

  function spanMatches(ti, s) {
    if (state.errors && traces[ti].spans[s][F.status] !== "ERROR") return false;
    if (!state.query || testText[ti].indexOf(state.query) >= 0) return true;
    return spanTexts(ti)[s].indexOf(state.query) >= 0;
  }

  function traceMatches(ti) {
    if (!filtering()) return true;
    if (state.errors && !traces[ti].errors) return false;
    var spans = traces[ti].spans;
    for (var s = 0; s < spans.length; s++) if (spanMatches(ti, s)) return true;
    return false;
  }

  function applyFilter() {
    var shown = 0;
    sections.forEach(function (section) {
      var any = false;
      section.members.forEach(function (ti) {
        var visible = traceMatches(ti);
        items[ti].hidden = !visible;
        if (visible) { any = true; shown++; }
      });
      section.node.hidden = !any;
    });
    opened.forEach(function (_, ti) { applyRows(ti); });
    counter.textContent = filtering()
      ? shown + " of " + plural(traces.length, "trace")
      : plural(traces.length, "trace") + ", " + plural(spanTotal, "span");
  }

  // -- the list -----------------------------------------------------------

  var spanTotal = 0;

  function traceItem(ti) {
    var tr = traces[ti];
    spanTotal += tr.spans.length;
    var li = el("li", tr.errors ? "trace has-errors" : "trace");
    li.setAttribute("data-trace-id", tr.id);
    li._ti = ti;
    var head = el("button", "trace-head");
    head.type = "button";
    head.setAttribute("aria-expanded", "false");
    head.appendChild(el("span", "root", S[tr.root]));
    var services = el("span", "services");
    tr.services.forEach(function (si) {
      var badge = el("span", "service", S[si] || "unknown service");
      badge.style.borderColor = colour(si);
      services.appendChild(badge);
    });
    head.appendChild(services);
    head.appendChild(el("span", "spans", plural(tr.spans.length, "span")));
    head.appendChild(el("span", "errors",
      tr.errors ? plural(tr.errors, "error") + (tr.error_type ? " · " + tr.error_type : "") : ""));
    head.appendChild(el("span", "duration", duration(tr.duration)));
    head.appendChild(el("span", "start", moment(tr.start)));
    li.appendChild(head);
    items[ti] = li;
    return li;
  }

  function renderList() {
    var fragment = document.createDocumentFragment();
    data.groups.forEach(function (group) {
      var section = el("section", "group");
      section.setAttribute("data-test", group.test === null ? "" : group.test);
      var heading = el("h2", group.test === null ? "test none" : "test", group.test === null ? "no test" : group.test);
      var failing = group.traces.filter(function (ti) { return traces[ti].errors; }).length;
      heading.appendChild(el("span", "meta",
        plural(group.traces.length, "trace") + (failing ? ", " + failing + " with errors" : "")));
      section.appendChild(heading);
      var list = el("ul", "trace-list");
      group.traces.forEach(function (ti) {
        testText[ti] = (group.test || "").toLowerCase();
        list.appendChild(traceItem(ti));
      });
      section.appendChild(list);
      sections.push({ node: section, members: group.traces });
      fragment.appendChild(section);
    });
    if (!traces.length) fragment.appendChild(el("p", "empty", "No spans."));
    main.appendChild(fragment);
  }

  // -- a waterfall ----------------------------------------------------------

  // Ticks at 1, 2 or 5 times a power of ten, four to ten of them.
  function ticks(total) {
    var step = Math.pow(10, Math.floor(Math.log10(Math.max(total, 1) / 4)));
    [1, 2, 5, 10].some(function (m) { if (total / (step * m) <= 8) { step *= m; return true; } return false; });
    var out = [];
    for (var t = 0; t <= total * 1.0001; t += step) out.push(t);
    return out;
  }

  function buildWaterfall(ti) {
    var tr = traces[ti];
    var total = tr.duration || 1;
    var root = el("div", "waterfall");
    root.setAttribute("data-trace-id", tr.id);
    var axis = el("div", "row axis");
    axis.appendChild(el("div", "label", "trace " + tr.id));
    var track = el("div", "track");
    ticks(total).forEach(function (t) {
      var tick = el("span", "tick", duration(t));
      tick.style.left = (t / total * 100).toFixed(3) + "%";
      track.appendChild(tick);
    });
    axis.appendChild(track);
    root.appendChild(axis);
    var parents = new Uint8Array(tr.spans.length);
    tr.spans.forEach(function (sp) { if (sp[F.parent] >= 0) parents[sp[F.parent]] = 1; });
    var rows = tr.spans.map(function (sp, s) {
      var error = sp[F.status] === "ERROR";
      var row = el("div", error ? "row span error" : "row span");
      row.setAttribute("data-span-id", sp[F.span_id]);
      row.setAttribute("data-parent-span-id", sp[F.parent_span_id]);
      row.setAttribute("data-status", sp[F.status]);
      row.tabIndex = 0;
      row._ti = ti;
      row._s = s;
      var label = el("div", "label");
      label.style.paddingLeft = (sp[F.depth] * 14 + 4) + "px";
      var toggle = el("button", "toggle", parents[s] ? "▾" : "");
      toggle.type = "button";
      toggle.disabled = !parents[s];
      toggle.setAttribute("aria-label", "collapse");
      label.appendChild(toggle);
      var swatch = el("span", "swatch");
      swatch.style.background = colour(sp[F.service]);
      label.appendChild(swatch);
      label.appendChild(el("span", "name", S[sp[F.name]]));
      if (S[sp[F.service]]) label.appendChild(el("span", "svc", S[sp[F.service]]));
      if (error) label.appendChild(el("span", "etype", sp[F.error_type] || "ERROR"));
      var lane = el("div", "track");
      var bar = el("div", "bar");
      bar.setAttribute("data-role", "bar");
      var width = Math.min(100, Math.max(sp[F.duration] / total * 100, 0.2));
      var left = Math.min(Math.max(sp[F.start] / total * 100, 0), 100 - width);
      bar.style.left = left.toFixed(3) + "%";
      bar.style.width = width.toFixed(3) + "%";
      if (!error) bar.style.background = colour(sp[F.service]);
      lane.appendChild(bar);
      var took = el("span", "dur", duration(sp[F.duration]));
      // After the bar; before it when the bar reaches the end; inside a bar that spans the lane.
      if (left + width <= 80) {
        took.style.left = (left + width + 0.5).toFixed(3) + "%";
      } else if (left >= 12) {
        took.style.right = (100 - left + 0.5).toFixed(3) + "%";
      } else {
        took.style.right = (100 - left - width + 0.5).toFixed(3) + "%";
        took.classList.add("inside");
      }
      lane.appendChild(took);
      row.appendChild(label);
      row.appendChild(lane);
      root.appendChild(row);
      return row;
    });
    return { root: root, rows: rows, collapsed: new Set() };
  }

  // Rows shown: those the filter matches and their ancestors (as context),
  // less the descendants of collapsed rows.
  function applyRows(ti) {
    var view = opened.get(ti);
    var spans = traces[ti].spans;
    var marks = new Uint8Array(spans.length);  // 2: matches, 1: an ancestor of a match
    var active = filtering();
    if (active) {
      for (var s = 0; s < spans.length; s++) {
        if (!spanMatches(ti, s)) continue;
        marks[s] = 2;
        for (var p = spans[s][F.parent]; p >= 0 && !marks[p]; p = spans[p][F.parent]) marks[p] = 1;
      }
    }
    var hideBelow = -1;
    for (var i = 0; i < spans.length; i++) {
      var row = view.rows[i];
      var depth = spans[i][F.depth];
      if (hideBelow >= 0 && depth > hideBelow) { row.hidden = true; continue; }
      hideBelow = -1;
      row.hidden = active && !marks[i];
      row.classList.toggle("context", active && marks[i] === 1);
      if (view.collapsed.has(i)) hideBelow = depth;
    }
  }

  function toggleTrace(ti) {
    var li = items[ti];
    var head = li.firstChild;
    var view = opened.get(ti);
    if (view) {
      view.root.remove();
      opened.delete(ti);
      li.classList.remove("open");
      head.setAttribute("aria-expanded", "false");
      return;
    }
    view = buildWaterfall(ti);
    opened.set(ti, view);
    li.appendChild(view.root);
    li.classList.add("open");
    head.setAttribute("aria-expanded", "true");
    applyRows(ti);
  }

  function collapse(ti, s, button) {
    var view = opened.get(ti);
    var folded = !view.collapsed.has(s);
    if (folded) view.collapsed.add(s); else view.collapsed.delete(s);
    button.textContent = folded ? "▸" : "▾";
    button.setAttribute("aria-label", folded ? "expand" : "collapse");
    view.rows[s].classList.toggle("collapsed", folded);
    applyRows(ti);
  }

  // -- details ----------------------------------------------------------------

  function copy(value, button) {
    function done() {
      button.textContent = "copied";
      setTimeout(function () { button.textContent = "copy"; }, 1200);
    }
    function fallback() {
      var area = el("textarea");
      area.value = value;
      document.body.appendChild(area);
      area.select();
      try { if (document.execCommand("copy")) done(); } catch (e) { /* the id stays selectable */ }
      area.remove();
    }
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(value).then(done, fallback);
    else fallback();
  }

  function table(rows) {
    var node = el("table", "kv");
    rows.forEach(function (kv) {
      var tr = el("tr");
      tr.appendChild(el("th", null, kv[0]));
      var cell = el("td");
      if (kv[1] instanceof Node) cell.appendChild(kv[1]);
      else cell.appendChild(el("span", "value", text(kv[1])));
      tr.appendChild(cell);
      node.appendChild(tr);
    });
    return node;
  }

  function idCell(value) {
    var cell = el("span", "id");
    if (!value) { cell.appendChild(el("span", "none", "none")); return cell; }
    cell.appendChild(el("code", null, value));
    var button = el("button", "copy", "copy");
    button.type = "button";
    button.addEventListener("click", function () { copy(value, button); });
    cell.appendChild(button);
    return cell;
  }

  function section(title, body) {
    var node = el("section");
    node.setAttribute("data-section", title.toLowerCase());
    node.appendChild(el("h3", null, title));
    node.appendChild(body);
    return node;
  }

  function events(list) {
    var box = el("div");
    list.forEach(function (event) {
      var name = S[event[0]];
      var item = el("div", name === "exception" ? "event exception" : "event");
      item.appendChild(el("h4", null, name + " at +" + duration(Math.max(0, event[1]))));
      var rest = [];
      var attrs = pairs(event[2]);
      if (name === "exception") {
        var get = function (key) {
          var found = attrs.filter(function (kv) { return kv[0] === key; })[0];
          return found ? text(found[1]) : "";
        };
        item.appendChild(el("p", "exception-message",
          [get("exception.type"), get("exception.message")].filter(Boolean).join(": ")));
        if (get("exception.stacktrace")) item.appendChild(el("pre", "stacktrace", get("exception.stacktrace")));
        rest = attrs.filter(function (kv) {
          return ["exception.type", "exception.message", "exception.stacktrace"].indexOf(kv[0]) < 0;
        });
      } else {
        rest = attrs;
      }
      if (rest.length) item.appendChild(table(rest));
      box.appendChild(item);
    });
    return box;
  }

  function showDetails(ti, s) {
    var tr = traces[ti];
    var sp = tr.spans[s];
    if (selected) selected.classList.remove("selected");
    selected = opened.get(ti).rows[s];
    selected.classList.add("selected");
    details.replaceChildren();
    details.hidden = false;
    document.body.classList.add("with-details");
    details.setAttribute("data-trace-id", tr.id);
    details.setAttribute("data-span-id", sp[F.span_id]);
    var close = el("button", "close", "×");
    close.type = "button";
    close.setAttribute("aria-label", "close");
    close.addEventListener("click", function () {
      details.hidden = true;
      document.body.classList.remove("with-details");
    });
    details.appendChild(close);
    details.appendChild(el("h2", null, S[sp[F.name]]));
    var status = sp[F.status] + (sp[F.status_description] ? ": " + sp[F.status_description] : "");
    details.appendChild(section("Span", table([
      ["trace id", idCell(tr.id)],
      ["span id", idCell(sp[F.span_id])],
      ["parent span id", idCell(sp[F.parent_span_id])],
      ["kind", sp[F.kind]],
      ["status", status],
      ["service", S[sp[F.service]] || "unknown service"],
      ["start", moment(tr.start + sp[F.start]) + " (+" + duration(sp[F.start]) + ")"],
      ["duration", duration(sp[F.duration])],
    ])));
    var attrs = pairs(sp[F.attributes]);
    details.appendChild(section("Attributes", attrs.length ? table(attrs) : el("p", "none", "none")));
    if (sp[F.events].length) details.appendChild(section("Events", events(sp[F.events])));
    if (sp[F.links].length) {
      var links = el("div");
      sp[F.links].forEach(function (link) {
        links.appendChild(table([["trace id", idCell(link[0])], ["span id", idCell(link[1])]].concat(pairs(link[2]))));
      });
      details.appendChild(section("Links", links));
    }
    var resource = pairs(data.resources[sp[F.resource]]);
    details.appendChild(section("Resource", resource.length ? table(resource) : el("p", "none", "none")));
    var scope = sp[F.scope] >= 0 ? data.scopes[sp[F.scope]] : null;
    if (scope) {
      var rows = [["name", scope[0]]];
      if (scope[1]) rows.push(["version", scope[1]]);
      if (scope[2]) rows.push(["schema url", scope[2]]);
      details.appendChild(section("Scope", table(rows.concat(pairs(scope[3])))));
    }
  }

  // -- events -----------------------------------------------------------------

  main.addEventListener("click", function (event) {
    var target = event.target;
    var toggle = target.closest("button.toggle");
    if (toggle) {
      var owner = toggle.closest(".row.span");
      collapse(owner._ti, owner._s, toggle);
      return;
    }
    var head = target.closest("button.trace-head");
    if (head) { toggleTrace(head.parentNode._ti); return; }
    var row = target.closest(".row.span");
    if (row) showDetails(row._ti, row._s);
  });
  main.addEventListener("keydown", function (event) {
    var row = event.target.closest && event.target.closest(".row.span");
    if (row && event.key === "Enter") showDetails(row._ti, row._s);
  });
  search.addEventListener("input", function () {
    state.query = search.value.trim().toLowerCase();
    applyFilter();
  });
  errorsOnly.addEventListener("change", function () {
    state.errors = errorsOnly.checked;
    applyFilter();
  });

  renderList();
  applyFilter();
  var wanted = location.hash.replace(/^#/, "").toLowerCase();
  var start = traces.findIndex(function (tr) { return tr.id === wanted; });
  if (start < 0 && data.open_first && traces.length) start = data.groups[0].traces[0];
  if (start >= 0) {
    toggleTrace(start);
    items[start].scrollIntoView();
  }
  document.documentElement.setAttribute("data-ready", "true");
})();
