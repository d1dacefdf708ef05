// The map console: a client of the same API as every other (DESIGN §12); no build step.
const $ = (sel) => document.querySelector(sel);
const LIGHTS = ["green", "yellow", "red"];
const STATUSES = ["registered", "dispatched", "accepted", "on_site", "resolved", "reviewed", "called_back", "closed", "archived"];
const state = { token: sessionStorage.getItem("token"), user: null, config: null, dir: null, map: null, cluster: null, grids: null, markers: [] };
window.consoleState = state;
// What a marker click calls, reachable while the marker sits inside a cluster.

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  if (options.json !== undefined) { headers["Content-Type"] = "application/json"; options.body = JSON.stringify(options.json); }
  const r = await fetch(path, { ...options, headers });
  if (options.raw) return r;
  const body = r.status === 204 ? null : await r.json();
  if (!r.ok) throw Object.assign(new Error(body?.message || r.statusText), { code: body?.code, status: r.status });
  return body;
}

const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const when = (t) => (t ? new Date(t).toLocaleString("zh-CN", { hour12: false }) : "—");
const nameOf = (list, id) => state.dir?.[list].find((x) => x.id === id)?.name ?? (id ?? "—");

// --- log in / out ---------------------------------------------------------------------------
$("#login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = new FormData(ev.target);
  $("#login-error").textContent = "";
  try {
    const answer = await api("/auth/login", { method: "POST", json: { username: form.get("username"), password: form.get("password") } });
    state.token = answer.token;
    if (!state.config.roles.includes(answer.user.role)) {
      await api("/auth/logout", { method: "POST" }).catch(() => {});
      state.token = null;
      $("#login-error").textContent = `The console is for district admins and unit leaders; a ${answer.user.role} cannot log in here.`;
      return;
    }
    sessionStorage.setItem("token", state.token);
    sessionStorage.setItem("user", JSON.stringify(answer.user));
    await start(answer.user);
  } catch (e) {
    console.error(e);
    $("#login-error").textContent = e.message;
  }
});

$("#logout").addEventListener("click", async () => {
  await api("/auth/logout", { method: "POST" }).catch(() => {});
  sessionStorage.clear();
  location.reload();
});

// --- tabs -----------------------------------------------------------------------------------
document.querySelectorAll("nav button").forEach((b) => b.addEventListener("click", () => showTab(b.dataset.tab)));
function showTab(name) {
  document.querySelectorAll("nav button").forEach((b) => b.classList.toggle("active", b.dataset.tab === name));
  document.querySelectorAll(".tab").forEach((t) => (t.hidden = t.id !== `tab-${name}`));
  if (name === "map") state.map.invalidateSize();
  if (name === "rankings") loadRanking();
  if (name === "alerts") loadAlerts();
  if (name === "calendar") loadCalendar();
}

// --- filters, kept in the URL ---------------------------------------------------------------
const FILTERS = ["status", "category_id", "unit_id", "light", "from", "to", "q", "level"];
function readFilters() {
  const params = new URLSearchParams(location.search);
  for (const name of FILTERS) if (params.has(name)) $("#filters").elements[name].value = params.get(name);
}
function writeFilters() {
  const params = new URLSearchParams();
  for (const name of FILTERS) { const v = $("#filters").elements[name].value; if (v) params.set(name, v); }
  history.replaceState(null, "", `${location.pathname}${params.size ? "?" + params : ""}`);
  return params;
}
$("#filters").addEventListener("change", () => { writeFilters(); refreshMap(); });

// --- the map --------------------------------------------------------------------------------
function setUpMap() {
  state.map = L.map("map", { maxZoom: 19 }).setView([31.23, 121.47], 13);
  // With no tile URL the map stays a plain background: nothing is loaded from outside.
  if (state.config.tile_url) L.tileLayer(state.config.tile_url, { maxZoom: 19 }).addTo(state.map);
  state.cluster = L.markerClusterGroup({ disableClusteringAtZoom: 18 });
  state.map.addLayer(state.cluster);
}

function overdueColour(n) { return n >= 3 ? "#b71c1c" : n === 2 ? "#e53935" : n === 1 ? "#ef9a9a" : "#c8e6c9"; }

async function drawGrids(level) {
  const [grids, counts] = await Promise.all([
    api(`/map/grids?level=${level}`),
    level === "cell" ? api("/map/cells/counts") : Promise.resolve({ cells: [] }),
  ]);
  const byCell = Object.fromEntries(counts.cells.map((c) => [c.grid_id, c]));
  if (state.grids) state.grids.remove();
  state.grids = L.geoJSON(grids, {
    style: (f) => {
      const c = byCell[f.properties.id];
      return { color: "#345", weight: 1, fillOpacity: c ? 0.45 : 0.1, fillColor: c ? overdueColour(c.overdue) : "#90a4ae", className: `grid grid-${level}` };
    },
    onEachFeature: (f, layer) => {
      const c = byCell[f.properties.id];
      layer.bindTooltip(`${esc(f.properties.name)}${c ? ` · open ${c.open} · overdue ${c.overdue}` : ""}`);
    },
  }).addTo(state.map);
  state.grids.bringToBack();
  if (grids.features.length) state.map.fitBounds(state.grids.getBounds());
}

async function listCases(params) {
  const query = new URLSearchParams();
  for (const k of ["status", "category_id", "unit_id", "light", "q"]) if (params.get(k)) query.set(k, params.get(k));
  const all = [];
  for (let offset = 0; offset < 2000; offset += 200) {
    query.set("offset", offset); query.set("limit", 200);
    const page = await api(`/cases?${query}`);
    all.push(...page.items);
    if (all.length >= page.total) break;
  }
  const from = params.get("from"), to = params.get("to");
  return all.filter((c) => (!from || c.registered_at.slice(0, 10) >= from) && (!to || c.registered_at.slice(0, 10) <= to));
}

async function refreshMap() {
  const params = writeFilters();
  try {
    await drawGrids(params.get("level") || "cell");
  } catch (e) { $("#legend").innerHTML = `<span class="error">${esc(e.message)}</span>`; }
  const cases = await listCases(params);
  state.cluster.clearLayers();
  state.markers = [];
  const tally = { green: 0, yellow: 0, red: 0 };
  for (const c of cases) {
    if (c.lat == null || c.lon == null) continue;
    const icon = L.divIcon({ className: "", html: `<div class="case-marker light-${c.light}" data-light="${c.light}" data-ticket="${esc(c.ticket)}"></div>`, iconSize: [14, 14] });
    const marker = L.marker([c.lat, c.lon], { icon, title: c.ticket });
    marker.caseLight = c.light;
    marker.on("click", () => openCase(c.id));
    state.markers.push(marker);
    tally[c.light] += 1;
  }
  state.cluster.addLayers(state.markers);
  $("#legend").innerHTML = LIGHTS.map((l) => `<span data-light="${l}"><i class="dot light-${l}"></i>${l} <b>${tally[l]}</b></span>`).join("") + ` <span>${cases.length} cases</span>`;
}

// --- the case panel -------------------------------------------------------------------------
function distanceM(a, b) {
  const rad = Math.PI / 180, R = 6371008.8;
  const dLat = (b.lat - a.lat) * rad, dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * R * Math.asin(Math.sqrt(h));
}
function headingDiff(a, b) {
  if (a.heading == null || b.heading == null) return null;
  const d = Math.abs(a.heading - b.heading) % 360;
  return d > 180 ? 360 - d : d;
}

async function photoUrl(id) {
  const r = await api(`/photos/${id}/thumbnail`, { raw: true });
  return r.ok ? URL.createObjectURL(await r.blob()) : "";
}

function photoPairs(photos) {
  const befores = Object.fromEntries(photos.filter((p) => p.kind === "before").map((p) => [p.id, p]));
  return photos.filter((p) => p.kind === "after" && befores[p.before_id]).map((after) => [befores[after.before_id], after]);
}

async function renderPhotos(c) {
  const pairs = photoPairs(c.photos);
  const parts = [];
  for (const [before, after] of pairs) {
    const [bu, au] = await Promise.all([photoUrl(before.id), photoUrl(after.id)]);
    const angle = headingDiff(before, after);
    parts.push(`<div class="pair"><div class="photos">
      <figure><img class="photo-before" alt="before 处置前" src="${bu}"><figcaption>before ${when(before.taken_at)}</figcaption></figure>
      <figure><img class="photo-after" alt="after 处置后" src="${au}"><figcaption>after ${when(after.taken_at)}</figcaption></figure></div>
      <p class="pair-figures">distance <b class="pair-distance">${distanceM(before, after).toFixed(1)} m</b> · heading difference <b class="pair-heading">${angle == null ? "—" : angle.toFixed(0) + "°"}</b></p></div>`);
  }
  return parts.join("") || "<p>No before/after pair yet.</p>";
}

function actionForms(c) {
  const admin = state.user.role === "district_admin";
  const forms = [];
  if (c.extension_requested_days != null)
    forms.push(`<form data-action="approve_extension"><span>Extension of ${c.extension_requested_days} working days asked</span>
      <button name="approved" value="true">Approve 批准</button><button name="approved" value="false">Refuse 拒绝</button></form>`);
  if (admin && ["registered"].includes(c.status))
    forms.push(`<form data-action="dispatch"><select name="unit_id">${state.dir.units.map((u) => `<option value="${u.id}">${esc(u.name)}</option>`).join("")}</select><button>Dispatch 派遣</button><span class="route"></span></form>`);
  if (admin && ["dispatched", "accepted"].includes(c.status))
    forms.push(`<form data-action="assign"><select name="assignee_id">${state.dir.users.filter((u) => ["grid_worker", "squad_member", "squad_leader"].includes(u.role)).map((u) => `<option value="${u.id}">${esc(u.name)}</option>`).join("")}</select><button>Reassign 改派</button></form>`);
  if (admin && ["registered", "dispatched", "accepted", "on_site"].includes(c.status))
    forms.push(`<form data-action="supervise"><input name="note" placeholder="supervision notice 督办通知" maxlength="2000" required><button>Supervise 督办</button></form>`);
  if (admin) forms.push(`<form data-action="note"><input name="text" placeholder="note 备注" maxlength="2000" required><button>Add note</button></form>`);
  return forms.join("");
}

async function openCase(id) {
  const panel = $("#case-panel");
  panel.hidden = false;
  let c;
  try { c = await api(`/cases/${id}`); } catch (e) { panel.innerHTML = `<p class="error">${esc(e.message)}</p>`; return; }
  panel.dataset.caseId = c.id;
  panel.innerHTML = `<h2>${esc(c.ticket)} <i class="dot light-${c.light}"></i><span class="case-light">${c.light}</span></h2>
    <p>${esc(c.title || c.description)}</p>
    <dl><dt>Status</dt><dd class="case-status">${c.status}</dd><dt>Address</dt><dd>${esc(c.address)}</dd>
    <dt>Category</dt><dd>${esc(nameOf("categories", c.category_id))}</dd>
    <dt>Lead unit</dt><dd>${esc(nameOf("units", c.lead_unit_id))}</dd><dt>Assignee</dt><dd>${esc(nameOf("users", c.assignee_id))}</dd>
    <dt>Deadline</dt><dd class="case-due">${when(c.due_at)}${c.due_provisional ? " (provisional)" : ""}</dd>
    <dt>Warning from</dt><dd>${when(c.warn_at)}</dd>${c.supervised ? "<dt>Supervised 督办</dt><dd>yes</dd>" : ""}</dl>
    <div class="case-photos">${await renderPhotos(c)}</div>
    <div class="actions">${actionForms(c)}</div><p class="action-error error" role="alert"></p>
    <h3>Timeline</h3><ol class="timeline">${c.events.map((e) => `<li>${when(e.at)} · ${esc(e.action)} ${esc(e.note || "")}</li>`).join("")}</ol>`;
  const dispatch = panel.querySelector('form[data-action="dispatch"]');
  if (dispatch) api(`/cases/${c.id}/route`).then((r) => { if (r.lead_unit_id) dispatch.elements.unit_id.value = r.lead_unit_id; dispatch.querySelector(".route").textContent = `suggested: ${nameOf("units", r.lead_unit_id)} (${r.source})`; }).catch(() => {});
  panel.querySelectorAll(".actions form").forEach((f) => f.addEventListener("submit", (ev) => act(ev, c)));
}

async function act(ev, c) {
  ev.preventDefault();
  const form = ev.target, action = form.dataset.action, fields = new FormData(form);
  const payload = {};
  if (action === "approve_extension") payload.approved = ev.submitter.value === "true";
  if (action === "dispatch") payload.unit_id = Number(fields.get("unit_id"));
  if (action === "assign") payload.assignee_id = Number(fields.get("assignee_id"));
  if (action === "note") payload.text = fields.get("text");
  if (action === "supervise") payload.note = fields.get("note");
  try {
    await api(`/cases/${c.id}/${action.replace("_", "-")}`, { method: "POST", json: { version: c.version, payload } });
    await openCase(c.id);
    refreshMap();
  } catch (e) { $("#case-panel .action-error").textContent = `${e.code || ""} ${e.message}`; }
}

// --- rankings -------------------------------------------------------------------------------
const RANK_COLUMNS = [["rank", "#"], ["unit_name", "Unit 单位"], ["received", "Received"], ["dispatched", "Dispatched"], ["dispatched_on_time", "Dispatched on time"], ["closed", "Closed"], ["closed_on_time", "Closed on time"], ["on_time_rate", "On-time rate"], ["overdue_now", "Overdue now"], ["extensions", "Extensions"], ["returns", "Returns"], ["satisfaction_rate", "Satisfaction"], ["rework_rate", "Rework"], ["repeats", "Repeats"], ["mean_handling_days", "Mean days"], ["deductions", "Deductions 扣分"]];
const rankingSort = { key: "rank", descending: false };
const fmt = (v, key) => (v == null ? "—" : key.endsWith("_rate") ? `${(v * 100).toFixed(1)}%` : v);
function rankingRows(rows) {
  const head = `<tr>${RANK_COLUMNS.map(([k, t]) => `<th data-key="${k}">${t}${rankingSort.key === k ? (rankingSort.descending ? " ▼" : " ▲") : ""}</th>`).join("")}</tr>`;
  return head + rows.map((r) => `<tr data-unit="${r.unit_id}">${RANK_COLUMNS.map(([k]) => `<td data-key="${k}">${esc(fmt(r[k], k))}</td>`).join("")}</tr>`).join("");
}
function rankingQuery() {
  const month = $("#ranking-month").value || new Date().toISOString().slice(0, 7);
  $("#ranking-month").value = month;
  return new URLSearchParams({ month, sort: rankingSort.key, descending: rankingSort.descending });
}
async function loadRanking() {
  try {
    const r = await api(`/admin/rankings?${rankingQuery()}`);
    $("#ranking-table").innerHTML = rankingRows(r.ranked);
    $("#ranking-apart").innerHTML = rankingRows(r.apart);
  } catch (e) { $("#ranking-table").innerHTML = `<tr><td class="error">${esc(e.message)}</td></tr>`; }
}
for (const id of ["#ranking-table", "#ranking-apart"])
  $(id).addEventListener("click", (ev) => {
    const key = ev.target.closest("th")?.dataset.key;
    if (!key) return;
    rankingSort.descending = rankingSort.key === key ? !rankingSort.descending : key !== "rank" && key !== "unit_name";
    rankingSort.key = key;
    loadRanking();
  });
$("#ranking-month").addEventListener("change", loadRanking);
$("#ranking-csv").addEventListener("click", async () => {
  const r = await api(`/admin/rankings/csv?${rankingQuery()}`, { raw: true });
  const a = Object.assign(document.createElement("a"), { href: URL.createObjectURL(await r.blob()), download: `ranking-${$("#ranking-month").value}.csv` });
  a.click();
});

// --- alerts and calendar --------------------------------------------------------------------
function table(rows, columns) {
  return `<tr>${columns.map((c) => `<th>${c}</th>`).join("")}</tr>` + rows.map((r) => `<tr class="status-${esc(r.status)}">${columns.map((c) => `<td>${esc(r[c])}</td>`).join("")}</tr>`).join("");
}
async function loadAlerts() {
  const alerts = await api("/alerts").catch((e) => ({ alerts: [], error: e.message }));
  $("#alerts-table").innerHTML = table(alerts.alerts, ["ticket", "level", "recipient", "channel", "status", "attempts", "created_at", "sent_at", "error"]);
  if (state.user.role === "district_admin") {
    // A failed alert can be sent again once its receiver is fixed.
    const rows = $("#alerts-table").querySelectorAll("tr");
    alerts.alerts.forEach((a, i) => {
      if (a.status !== "failed") return;
      const button = Object.assign(document.createElement("button"), { className: "retry", textContent: "Retry 重发" });
      button.addEventListener("click", async () => {
        await api(`/alerts/${a.id}/retry`, { method: "POST", raw: true }).catch((e) => { button.textContent = e.message; });
        loadAlerts();
      });
      rows[i + 1].lastElementChild.append(" ", button);
    });
  }
  if (state.user.role === "district_admin") {
    const outbox = await api("/outbox").catch(() => ({ messages: [] }));
    $("#outbox-table").innerHTML = table(outbox.messages, ["to", "text", "created_at"]);
  }
}
async function loadCalendar() {
  const s = await api("/calendars");
  $("#calendar-status").innerHTML = `<p>Loaded years: <b class="loaded-years">${s.loaded_years.join(", ") || "none"}</b></p>
    <p>Missing years: <b class="missing-years">${s.missing_years.join(", ") || "none"}</b></p>
    <p>Provisional deadlines: <b class="provisional-cases">${s.provisional_cases}</b></p>`;
}
$("#calendar-file").addEventListener("change", async (ev) => {
  try {
    const year = JSON.parse(await ev.target.files[0].text());
    const r = await api("/calendars", { method: "POST", json: year });
    $("#calendar-result").textContent = `Loaded ${r.years.join(", ")}; ${r.recomputed_cases} deadlines recomputed.`;
    loadCalendar();
  } catch (e) { $("#calendar-result").textContent = e.message; }
});

// Grid import: the file is checked first (the CLI's report, nothing stored), then imported on confirm.
let gridFile = null;
function gridReport(r) {
  const problems = r.problems.map((p) => `<li class="problem-${esc(p.severity)}">${esc(p.severity)}: ${esc(p.message)}</li>`).join("");
  return `<p class="grid-summary">${r.features} features: ${r.created} new, ${r.updated} changed, ${r.unchanged} unchanged, ${r.rejected} rejected${r.committed ? " — imported" : ""}</p><ul>${problems}</ul>`;
}
async function importGrids(commit) {
  const r = await api(`/admin/grids/import?commit=${commit}`, { method: "POST", body: gridFile, headers: { "Content-Type": "application/geo+json" } });
  $("#grid-report").innerHTML = gridReport(r);
  $("#grid-decision").hidden = commit || r.problems.some((p) => p.severity === "error");
  if (commit) gridFile = null;
}
$("#grid-file").addEventListener("change", async (ev) => {
  gridFile = await ev.target.files[0].arrayBuffer();
  importGrids(false).catch((e) => { $("#grid-report").textContent = e.message; });
});
$("#grid-confirm").addEventListener("click", () => importGrids(true).catch((e) => { $("#grid-report").textContent = e.message; }));
$("#grid-cancel").addEventListener("click", () => { gridFile = null; $("#grid-decision").hidden = true; $("#grid-report").textContent = "Cancelled 已取消"; $("#grid-file").value = ""; });

// --- start ----------------------------------------------------------------------------------
async function start(user) {
  state.user = user;
  $("#login-view").hidden = true;
  $("#console-view").hidden = false;
  $("#who").textContent = `${user.name} (${user.role})`;
  state.dir = await api("/admin/directory");
  const f = $("#filters").elements;
  f.status.innerHTML += STATUSES.map((s) => `<option>${s}</option>`).join("");
  f.category_id.innerHTML += state.dir.categories.map((c) => `<option value="${c.id}">${esc(c.name_zh || c.name)}</option>`).join("");
  f.unit_id.innerHTML += state.dir.units.map((u) => `<option value="${u.id}">${esc(u.name)}</option>`).join("");
  readFilters();
  setUpMap();
  await refreshMap();
  document.body.dataset.ready = "true";
}

(async () => {
  state.config = await api("/admin/config");
  const user = sessionStorage.getItem("user");
  if (state.token && user) start(JSON.parse(user)).catch(() => { sessionStorage.clear(); location.reload(); });
})();
state.openCase = openCase;
