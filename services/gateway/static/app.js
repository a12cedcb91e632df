"use strict";
// Hunter UI: vanilla JS over the JSON API. One function per page; hash routing (#page/arg).

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];
const esc = v => String(v ?? "").replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
const main = () => $("#main");
const STAGES = ["extract", "clean", "score", "enrich", "rescore", "export", "run"];
const BUCKETS = ["hot", "warm", "nurture", "parked"];
const FUNNEL = ["new", "queued", "contacted", "replied", "meeting", "won", "lost", "do_not_contact"];
const ACTIVITIES = ["note", "call", "email", "whatsapp", "meeting", "task"];
let live = null;       // the EventSource of the run being watched
let timers = [];       // intervals of the current page

function flash(msg, error = false) {
  const el = $("#flash");
  el.textContent = msg; el.className = error ? "error" : ""; el.hidden = false;
  clearTimeout(flash.t); flash.t = setTimeout(() => { el.hidden = true; }, error ? 8000 : 3500);
}

async function api(path, opts = {}) {
  const init = {...opts, headers: {...(opts.headers || {})}};
  if (opts.json !== undefined) { init.body = JSON.stringify(opts.json); init.headers["Content-Type"] = "application/json"; }
  const r = await fetch(path, init);
  const body = (r.headers.get("content-type") || "").includes("json") ? await r.json() : await r.text();
  if (!r.ok) {
    const d = body && body.detail;
    const msg = Array.isArray(d) ? d.map(e => `${(e.loc || []).slice(1).join(".")}: ${e.msg}`).join("; ")
      : (d && typeof d === "object" ? d.message || JSON.stringify(d) : d || r.statusText);
    flash(`${r.status}: ${msg}`, true);
    throw new Error(msg);
  }
  return body;
}

const bucket = b => b ? `<span class="b-${esc(b)}">${esc(b)}</span>` : "";
const pill = s => `<span class="pill ${esc(s)}">${esc(s)}</span>`;
const counts = c => Object.entries(c || {}).map(([k, v]) => `${esc(k)}=${esc(v)}`).join(" ");
const formData = form => Object.fromEntries([...new FormData(form)].filter(([, v]) => v !== ""));
const list = v => (v || "").split(",").map(s => s.trim()).filter(Boolean);

// ---- Mission ------------------------------------------------------------------------------

async function pageMission(runId) {
  const icps = await api("/api/icp");
  const icpNames = [...new Set([...icps.templates, ...icps.profiles.map(p => p.name)])];
  main().innerHTML = `
  <h2>Mission</h2>
  <form id="hunt" class="card">
    <div class="grid">
      <label>source<input name="source" id="source" required placeholder="csv:/path/companies.csv" size="40"></label>
      <label>UF (comma list)<input name="uf" placeholder="SP, RJ"></label>
      <label>city<input name="city" placeholder="SAO PAULO"></label>
      <label>CNAE prefixes<input name="cnae" placeholder="62, 6311900"></label>
      <label>ICP<select name="icp"><option value="">default</option>${icpNames.map(n => `<option>${esc(n)}</option>`).join("")}</select></label>
      <label>enrich top (0–1)<input name="enrich_top" type="number" step="0.05" min="0" max="1" value="0.2"></label>
      <label>limit<input name="limit" type="number" min="1" placeholder="all"></label>
      <label>label<input name="label" placeholder="optional"></label>
      <label class="check"><input type="checkbox" name="any_status" value="1"> any registry status</label>
      <label class="check"><input type="checkbox" name="parquet" value="1"> Parquet too</label>
      <button id="start">Start hunt</button>
      <button type="button" id="plan" class="secondary">Dry run</button>
      <button type="button" id="batch-start" class="secondary" title="one run per CNAE code of the list">Batch: a run per CNAE</button>
    </div>
  </form>
  <div id="plan-card"></div>
  <div id="watch"></div>
  <h3>Runs</h3><table id="runs"><thead><tr><th>run</th><th>label / source</th><th>status</th><th>requested</th><th>counts</th><th></th></tr></thead><tbody></tbody></table>`;
  renderManualLead();  // report.js
  enhanceMissionForm().catch(err => console.error(err));  // report.js: source, state, city, CNAE pickers
  const huntBody = form => {
    const f = formData(form);
    return {
      source: f.source, enrich_top: Number(f.enrich_top || 0.2), icp: f.icp || null, label: f.label || null,
      filters: {uf: list(f.uf).map(s => s.toUpperCase()), city: list(f.city), cnae: list(f.cnae),
                limit: f.limit ? Number(f.limit) : null, ...(f.any_status ? {status: ["*"]} : {})},
      segments: ["hot", "all"], formats: f.parquet ? ["csv", "parquet"] : ["csv"],
    };
  };
  $("#plan").addEventListener("click", async () => {
    const form = $("#hunt");
    if (!form.reportValidity()) return;
    $("#plan-card").innerHTML = `<div class="card muted">counting the source…</div>`;
    const p = await api("/api/runs/plan", {method: "POST", json: huntBody(form)});
    $("#plan-card").innerHTML = planCard(p);
  });
  $("#batch-start").addEventListener("click", async () => {
    const form = $("#hunt");
    if (!form.reportValidity()) return;
    const body = huntBody(form), codes = body.filters.cnae;
    if (!codes.length) { flash("list the CNAE codes to run one by one", true); return; }
    const {segments, formats, source, enrich_top, icp, label} = body;
    const r = await api("/api/batches", {method: "POST", json: {
      source, enrich_top, icp, label, segments, formats, codes, kind: "cnae", filters: {...body.filters, cnae: []}}});
    flash(`batch ${r.batch_id}: ${r.runs.length} runs requested`);
    location.hash = `#batch/${r.batch_id}`;
  });
  $("#hunt").addEventListener("submit", async e => {
    e.preventDefault();
    const body = huntBody(e.target);
    const r = await api("/api/runs", {method: "POST", json: body});
    flash(`run ${r.run_id} requested`);
    location.hash = `#mission/${r.run_id}`;
  });
  const refresh = async () => {
    const runs = await api("/api/runs?limit=30");
    $("#runs tbody").innerHTML = runs.map(r => `<tr class="clickable" data-run="${esc(r.run_id)}">
      <td class="mono">${esc(r.run_id)}</td><td>${esc(r.label || "")}<div class="muted mono">${esc(r.source)}</div></td>
      <td>${pill(r.status)}</td><td class="muted">${esc((r.requested_at || "").slice(0, 19).replace("T", " "))}</td>
      <td>${runSummary(r.counts)}</td><td><a href="#run/${encodeURIComponent(r.run_id)}">report</a> · <a href="#vault?run_id=${encodeURIComponent(r.run_id)}">leads</a></td></tr>`).join("");
    $$("#runs tr[data-run]").forEach(tr => tr.addEventListener("click", ev => {
      if (ev.target.tagName !== "A") location.hash = `#mission/${tr.dataset.run}`;
    }));
  };
  await refresh();
  timers.push(setInterval(refresh, 3000));
  if (runId) watchRun(runId);
}

function planCard(p) {
  const e = p.estimate, rows = e.rows;
  const matching = rows === null || rows === undefined ? `unknown${e.note ? ` — ${esc(e.note)}` : ""}`
    : `${e.exact ? "" : "at least "}${rows.toLocaleString("en-US")} rows (${(e.rejected || 0).toLocaleString("en-US")} rejected), counted in ${esc(e.seconds)} s`;
  const b = p.enrichment.budgets, leads = p.enrichment.leads;
  return `<div class="card" id="plan-result" data-ok="${p.ok}"><strong>Dry run</strong> <span class="muted">— nothing was published</span>
    <div class="kv" style="margin-top:.5rem"><div>source</div><div class="mono">${esc(p.source)}</div>
    <div>filters</div><div>${esc(p.filters_in_words)}</div><div>matching</div><div id="plan-rows">${matching}</div>
    <div>enrichment</div><div>top ${Math.round(100 * p.enrich_top)}%${leads === null ? "" : ` = ${leads.toLocaleString("en-US")} leads`};
      budgets ${num(b.requests)} requests, ${num(b.bytes)} bytes, ${num(b.seconds)} s</div>
    <div>ICP</div><div>${esc(p.icp)}</div>
    <div>targets</div><div>${Object.entries(p.targets).map(([k, v]) => `${esc(k)} ${esc(v)}`).join(", ") || "none"}</div></div>
    ${p.problems.map(x => `<div class="error-line">✗ ${esc(x)}</div>`).join("")}</div>`;
}

// a run's counts in words, in funnel order: "271 extracted · 250 leads · 92 enriched · 71 hot · ..."
const RUN_SUMMARY = [["extract.extracted", "extracted"], ["run.leads", "leads"], ["enrich.enriched", "enriched"],
  ["run.bucket_hot", "hot"], ["run.bucket_warm", "warm"], ["run.bucket_nurture", "nurture"], ["run.bucket_parked", "parked"]];
function runSummary(c) {
  return RUN_SUMMARY.filter(([k]) => c && c[k] !== undefined).map(([k, word]) => `${esc(c[k])} ${word}`).join(" · ");
}

function progress(step) {
  const c = step.counts || {};
  if (step.status === "completed") return 100;
  if (step.status === "failed") return 100;
  if (step.status === "cancelled" && !c.expected) return 0;  // the striped bar says it
  if (c.expected) {
    const done = Object.entries(c).find(([k]) => k !== "expected");
    return done ? Math.min(100, Math.round(100 * done[1] / c.expected)) : 0;
  }
  return step.status === "progress" ? 50 : 10;
}

// the Mission page's live funnel: (key, words, the count from the steps received so far)
const LIVE_FUNNEL = [
  ["extracted", "extracted", st => st.extract && st.extract.counts.extracted],
  ["cleaned", "cleaned", st => st.clean && st.clean.counts.out],
  ["scored", "scored", st => st.score && st.score.counts.scored],
  ["selected", "selected for enrichment", st => (st.score && st.score.counts.selected_for_enrichment)
    ?? (st.enrich && st.enrich.counts.expected)],
  ["enriched", "enriched", st => st.enrich && st.enrich.counts.enriched],
  ["hot", "hot", st => st.run && st.run.status === "completed" ? (st.run.counts.bucket_hot ?? 0) : undefined],
];

function watchRun(runId) {
  if (live) live.close();
  const state = {};
  $("#watch").innerHTML = `<div class="card" id="run-card" data-run="${esc(runId)}">
    <div class="row"><strong class="mono">${esc(runId)}</strong><span id="run-status">${pill("requested")}</span>
    <span class="spacer"></span><a href="#vault?run_id=${encodeURIComponent(runId)}">open its leads</a>
    <button class="danger" id="cancel" hidden>Cancel run</button></div>
    <div id="live-funnel" class="live-funnel">${LIVE_FUNNEL.map(([key, label]) => `
      <div>${esc(label)}</div><div class="bar" data-step="${key}"><span style="width:0"></span></div><div class="mono" id="lf-${key}">–</div>`).join("")}</div>
    <details id="counters"><summary class="muted">stage progress and counters</summary>
    <div class="stages" id="stages" style="margin-top:.8rem">${STAGES.map(s => `
      <div>${s}</div><div class="bar" id="bar-${s}"><span style="width:0"></span></div>
      <div id="st-${s}" class="muted">waiting</div><div id="ct-${s}" class="mono muted"></div>`).join("")}</div></details></div>`;
  $("#cancel").addEventListener("click", async () => {
    await api(`/api/runs/${encodeURIComponent(runId)}/cancel`, {method: "POST"});
    flash("cancel requested");
  });
  let ended = false;  // the Cancel button only while the run can still be cancelled
  const cancellable = () => { $("#cancel").hidden = ended; };
  api(`/api/runs/${encodeURIComponent(runId)}`).then(r => {
    if (["completed", "failed", "cancelled"].includes(r.status)) ended = true;
    cancellable();
  }).catch(() => cancellable());
  live = new EventSource(`/api/runs/${encodeURIComponent(runId)}/events`);
  const show = (stage, step) => {
    const bar = $(`#bar-${stage}`);
    if (!bar) return;
    bar.className = "bar" + ({completed: " done", failed: " failed", cancelled: " cancelled"}[step.status] || "");
    bar.firstElementChild.style.width = progress(step) + "%";
    $(`#st-${stage}`).innerHTML = pill(step.status);
    $(`#ct-${stage}`).innerHTML = counts(step.counts) + (step.message ? " " + esc(step.message) : "");
  };
  const fill = () => {  // the live funnel: each step's count as it arrives, bars scaled to the extracted rows
    const values = LIVE_FUNNEL.map(([key, , pick]) => [key, pick(state)]);
    const top = Math.max(1, ...values.map(([, v]) => v || 0));
    values.forEach(([key, v]) => {
      if (v === undefined || v === null) return;
      $(`#live-funnel .bar[data-step="${key}"] span`).style.width = `${Math.round(100 * v / top)}%`;
      $(`#lf-${key}`).textContent = Number(v).toLocaleString("en-US");
    });
  };
  live.addEventListener("step", ev => {
    const step = JSON.parse(ev.data);
    state[step.stage] = step;
    show(step.stage, step);
    fill();
    if (step.status === "completed") {  // a stage completing means the stages before it are done too
      STAGES.slice(0, STAGES.indexOf(step.stage)).forEach(s => {
        if (state[s] && state[s].status === "progress") show(s, state[s] = {...state[s], status: "completed"});
      });
    }
    $("#run-status").innerHTML = pill(step.stage === "run" ? step.status : "running");
  });
  live.addEventListener("end", ev => {
    const end = JSON.parse(ev.data);
    if (end.status === "cancelled") {  // the bars of the stages that had not finished show the cancellation
      STAGES.forEach(s => {
        const st = state[s];
        if (!st || !["completed", "failed"].includes(st.status)) {
          show(s, state[s] = {...(st || {counts: {}}), status: "cancelled", message: st ? st.message : ""});
        }
      });
    }
    $("#run-status").innerHTML = pill(end.status);
    $("#run-card").dataset.status = end.status;
    $("#live-funnel").insertAdjacentHTML("afterend",
      `<p><a id="report-link" href="#run/${encodeURIComponent(runId)}">open the run report</a></p>`);
    ended = true;
    cancellable();
    live.close(); live = null;
  });
}

// ---- Vault --------------------------------------------------------------------------------

const VAULT_FIELDS = ["run_id", "bucket", "min_score", "max_score", "uf", "city", "cnae", "has_site", "has_whatsapp",
  "technology", "accountant_like", "status", "q", "include_do_not_contact"];

async function pageVault(query) {
  const token = routeToken;
  const params = new URLSearchParams(query || "");
  const sel = (name, opts) => `<select name="${name}"><option value="">any</option>${opts.map(o =>
    `<option ${params.get(name) === o ? "selected" : ""}>${o}</option>`).join("")}</select>`;
  const val = n => esc(params.get(n) || "");
  main().innerHTML = `
  <h2>Vault</h2>
  <form id="filter" class="card"><div class="grid">
    <label>search<input name="q" value="${val("q")}" placeholder="name or CNPJ"></label>
    <label>bucket${sel("bucket", BUCKETS)}</label>
    <label>min score<input name="min_score" type="number" min="0" max="100" value="${val("min_score")}"></label>
    <label>max score<input name="max_score" type="number" min="0" max="100" value="${val("max_score")}"></label>
    <label>UF<input name="uf" maxlength="3" value="${val("uf")}"></label>
    <label>city<input name="city" value="${val("city")}"></label>
    <label>CNAE prefix<input name="cnae" value="${val("cnae")}"></label>
    <label>technology<input name="technology" value="${val("technology")}"></label>
    <label>has site${sel("has_site", ["true", "false"])}</label>
    <label>has WhatsApp${sel("has_whatsapp", ["true", "false"])}</label>
    <label>accountant-like${sel("accountant_like", ["true", "false"])}</label>
    <label>funnel${sel("status", FUNNEL)}</label>
    <label>seen in run<input name="run_id" value="${val("run_id")}"></label>
    <label class="check"><input type="checkbox" name="include_do_not_contact" value="true"
      ${params.get("include_do_not_contact") === "true" ? "checked" : ""}> include do-not-contact</label>
    <button>Filter</button>
  </div></form>
  <div class="row"><span id="total" class="muted"></span><span class="spacer"></span>
    <label class="check"><input type="checkbox" id="exp-parquet"> Parquet too</label>
    <button class="secondary" id="export">Export this filter</button></div>
  <table id="leads"><thead><tr>
    <th class="sortable" data-sort="score">score</th><th>bucket</th>
    <th title="learned propensity to answer (the ranker's), and the qualification score">propensity · qual.</th>
    <th class="sortable" data-sort="name">company</th>
    <th class="sortable" data-sort="city">city</th><th>CNAE</th><th>phone</th><th>WhatsApp</th><th>site</th>
    <th>technologies</th><th title="runs that saw the lead; its score is from the latest">runs</th><th>funnel</th>
    </tr></thead><tbody></tbody></table>
  <div class="row" style="margin-top:.6rem"><button class="secondary" id="prev">‹ prev</button>
    <span id="page" class="muted"></span><button class="secondary" id="next">next ›</button></div>`;
  const sort = params.get("sort") || "-score";
  const offset = Number(params.get("offset") || 0), limit = 50;
  const filter = Object.fromEntries(VAULT_FIELDS.filter(k => params.get(k)).map(k => [k, params.get(k)]));
  const go = (extra) => {
    const p = new URLSearchParams({...formData($("#filter")), sort, ...extra});
    location.hash = "#vault?" + p.toString();
  };
  $("#filter").addEventListener("submit", e => { e.preventDefault(); go({offset: 0}); });
  $$("th.sortable").forEach(th => th.addEventListener("click", () => {
    const s = th.dataset.sort, next = sort === "-" + s ? s : "-" + s;
    location.hash = "#vault?" + new URLSearchParams({...filter, sort: next, offset: 0});
  }));
  const r = await api("/api/leads?" + new URLSearchParams({...filter, sort, limit, offset}));
  if (token !== routeToken) return;  // superseded while loading: its listeners would carry a stale filter
  const shown = r.total_capped ? `${(r.total - 1).toLocaleString()}+` : `${r.total}`;
  $("#total").textContent = `${shown} leads`;
  $("#page").textContent = r.total ? `${offset + 1}–${Math.min(offset + limit, r.total)} of ${shown}` : "";
  $("#prev").disabled = offset === 0; $("#next").disabled = offset + limit >= r.total;
  $("#prev").addEventListener("click", () => go({offset: Math.max(0, offset - limit)}));
  $("#next").addEventListener("click", () => go({offset: offset + limit}));
  $("#leads tbody").innerHTML = r.items.map(x => `<tr class="clickable" data-key="${esc(x.lead_key)}">
    <td><strong>${esc(x.score)}</strong></td><td>${bucket(x.bucket)}</td>
    <td class="propensity" title="${esc((x.top_features || []).join(", "))}">${x.propensity == null ? "–" : `${(100 * x.propensity).toFixed(0)}%`}
      <span class="muted">${x.qualification_score == null ? "" : `· ${esc(x.qualification_score)}`}</span></td>
    <td>${esc(x.trade_name || x.legal_name)}<div class="muted mono">${esc(x.registry_id)}</div></td>
    <td>${esc(x.city)}/${esc(x.state)}</td><td class="mono">${esc(x.activity_main)}</td><td class="mono">${esc(x.phone)}</td>
    <td class="mono">${esc(x.whatsapp)}</td><td>${x.has_site ? "✓" : ""}</td><td>${esc(x.technologies)}</td>
    <td title="latest: ${esc(x.latest_run_id)}">${esc(x.runs_seen)}</td>
    <td>${pill(x.status)}</td></tr>`).join("") || `<tr><td colspan="12" class="muted">no lead matches</td></tr>`;
  $$("#leads tr[data-key]").forEach(tr => tr.addEventListener("click", () => { location.hash = "#lead/" + tr.dataset.key; }));
  $("#export").addEventListener("click", async () => {
    const vf = {...filter};
    for (const k of ["min_score", "max_score"]) if (vf[k]) vf[k] = Number(vf[k]);
    for (const k of ["has_site", "has_whatsapp", "accountant_like", "include_do_not_contact"]) if (vf[k]) vf[k] = vf[k] === "true";
    // the run goes in the vault filter: the export holds the rows counted here (one per lead, current scores)
    const e = await api("/api/exports", {method: "POST", json: {vault_filter: vf, segment: "all",
      formats: $("#exp-parquet").checked ? ["csv", "parquet"] : ["csv"]}});
    flash(`export ${e.export_id} requested`);
    location.hash = "#exports/" + e.export_id;
  });
}

const when = t => esc((t || "").slice(0, 16).replace("T", " "));

function funnelCard(d) {
  const f = d.funnel, cur = d.current || {};
  const moves = f.allowed_next.map(s => `<button type="button" class="${s === "lost" || s === "do_not_contact" ? "secondary" : ""}"
    data-move="${esc(s)}">${esc(s.replace(/_/g, " "))}</button>`).join("");
  const reopen = f.reopen_to.map(s => `<button type="button" class="secondary" data-reopen="${esc(s)}">reopen → ${esc(s)}</button>`).join("");
  const line = t => t.kind === "status" ? `${pill(t.previous)} → ${pill(t.status)}${t.reopen ? " <em>reopened</em>" : ""}` : `<strong>${esc(t.kind)}</strong>`;
  return `<div class="card" id="funnel"><h3>Funnel</h3>
    <div class="row"><span id="funnel-state">${pill(f.state)}</span>
      <span class="muted">${f.since ? `since ${when(f.since)}` : ""} · score ${esc(cur.score)} from run
      <span class="mono">${esc(cur.latest_run_id)}</span>, seen in ${esc(cur.runs_seen || 0)} run(s)</span></div>
    <form id="move" class="row" style="margin-top:.5rem"><input name="note" placeholder="note with the move (optional)" size="32">
      <span id="moves" class="row">${moves}${reopen}</span></form>
    <h3>Add an activity</h3>
    <form id="activity" class="row"><select name="kind">${ACTIVITIES.map(k => `<option>${k}</option>`).join("")}</select>
      <input name="text" placeholder="what happened / what to do" size="30">
      <input name="due_on" type="date" title="tasks: due on" hidden><button>Add</button></form>
    <h3>Timeline</h3><ul id="timeline" class="timeline">${d.timeline.map(t => `<li data-kind="${esc(t.kind)}">
      <span class="muted mono">${when(t.occurred_at)}</span> ${line(t)} <span class="muted">by ${esc(t.actor)}</span>
      ${t.due_on ? `<span class="pill">due ${esc(t.due_on)}</span>` : ""}${t.text ? `<div>${esc(t.text)}</div>` : ""}</li>`).join("")
      || '<li class="muted">nothing yet</li>'}</ul></div>`;
}

async function pageLead(key) {
  const token = routeToken;
  const d = await api("/api/leads/" + encodeURIComponent(key));
  if (token !== routeToken) return;
  const c = d.company, en = d.enrichment, data = c.data || {};
  const latest = d.runs[d.runs.length - 1] || {};
  const shown = v => v === true ? "yes" : v === false ? "no" : v;  // a person reads yes/no, not true/false
  const kv = obj => Object.entries(obj).map(([k, v]) => `<div>${esc(k)}</div><div>${esc(shown(v))}</div>`).join("");
  main().innerHTML = `
  <h2>${esc(c.trade_name || c.legal_name)} <span class="muted mono">${esc(c.lead_key)}</span></h2>
  <div class="cols">
    <div class="card"><h3>Company</h3><div class="kv">${kv({
      "legal name": c.legal_name, "trade name": c.trade_name, "registry id": c.registry_id, status: c.status,
      activity: c.activity_main, opened: c.opened_on, capital: c.capital, size: c.size, city: `${c.city || ""}/${c.state || ""}`,
      phone: c.phone, WhatsApp: c.whatsapp, "e-mail": c.email, "accountant-like": c.accountant_like,
      "shared phone": c.repeated_phone, source: c.source, "first run": c.first_run, "last run": c.last_run,
      "trace id": latest.trace_id})}</div>
      <h3>Contacts</h3><div class="mono">${(data.phones || []).map(p => esc(`${p.e164} (${p.kind}${p.whatsapp ? ", WhatsApp" : ""})`)).join("<br>")}
      <br>${(data.emails || []).map(e => esc(e.address)).join("<br>")}</div>
      <h3>Partners</h3>${(d.partners || []).map(p => `<div>${esc(p.name)} <span class="muted">${esc(p.qualification || "")} ${esc(p.document)}</span></div>`).join("") || '<span class="muted">none known</span>'}
    </div>
    <div>${funnelCard(d)}<div class="card" id="propensity-card"></div><div class="card" id="qualification-card"></div><div class="card">
      <h3>Scores by run</h3><table><thead><tr><th>run</th><th>v1</th><th>final</th><th>bucket</th><th>reasons</th></tr></thead><tbody>
      ${d.runs.map(r => `<tr><td class="mono">${esc(r.run_id)}</td><td>${esc(r.score_v1)}</td><td><strong>${esc(r.score)}</strong></td>
        <td>${bucket(r.bucket)}</td><td>${r.reasons.map(x => `${esc(x.code)}${x.points ? ` (${x.points > 0 ? "+" : ""}${esc(x.points)})` : ""}${x.detail ? ` <span class="muted">${esc(x.detail)}</span>` : ""}`).join("<br>")}</td></tr>`).join("")}
      </tbody></table>
      <h3>Enrichment evidence</h3>${en ? `<div class="kv">${kv({status: en.status, site: en.site, verified: en.verified,
        "verified by": (en.verified_by || []).join(", "), "found by": en.discovered_by, confidence: en.confidence,
        "e-mails": (en.emails || []).join(", "), WhatsApp: (en.whatsapp || []).join(", "),
        socials: Object.values(en.socials || {}).join(", "), technologies: (en.technologies || []).map(t => t.name).join(", "),
        pages: en.pages_fetched, fetched: en.fetched_at, error: en.error})}</div>` : '<span class="muted">not enriched</span>'}
    </div></div></div>`;
  renderPropensity(key, token);  // agenda.js
  renderQualification(key, token);  // qualify.js
  // the write is an event: show the page again once the projector has applied it (the timeline grew)
  const reload = async (tries = 20) => {
    const fresh = await api("/api/leads/" + encodeURIComponent(key));
    if (token !== routeToken) return;
    if (fresh.timeline.length > d.timeline.length || tries <= 0) pageLead(key);
    else setTimeout(() => reload(tries - 1), 300);
  };
  $$("#moves button").forEach(b => b.addEventListener("click", async () => {
    const note = $("#move").elements.note.value.trim() || null;
    const json = b.dataset.reopen ? {status: b.dataset.reopen, reopen: true, note} : {status: b.dataset.move, note};
    await api(`/api/leads/${encodeURIComponent(key)}/status`, {method: "POST", json});
    flash(`moved to ${json.status}`);
    reload();
  }));
  const form = $("#activity");
  form.elements.kind.addEventListener("change", () => { form.elements.due_on.hidden = form.elements.kind.value !== "task"; });
  form.addEventListener("submit", async e => {
    e.preventDefault();
    const f = formData(form);
    if (f.kind !== "task") delete f.due_on;
    await api(`/api/leads/${encodeURIComponent(key)}/activities`, {method: "POST", json: f});
    flash(`${f.kind} added`);
    reload();
  });
}

// ---- Person -------------------------------------------------------------------------------

async function pagePerson() {
  main().innerHTML = `<h2>Person</h2>
  <form id="who" class="card row"><input name="q" placeholder="partner name or CPF digits" size="40" required minlength="3">
    <button>Search</button></form><div id="people"></div>`;
  $("#who").addEventListener("submit", async e => {
    e.preventDefault();
    const people = await api("/api/partners?" + new URLSearchParams({q: formData(e.target).q}));
    $("#people").innerHTML = people.map((p, i) => `<div class="card"><div class="row"><strong>${esc(p.name)}</strong>
      <span class="muted mono">${esc(p.document)}</span><span class="spacer"></span>
      <button data-i="${i}">${p.companies.length === 1 ? "Import this company" : `Import these ${p.companies.length} companies`}</button></div>
      <table><thead><tr><th>company</th><th>registry id</th><th>city</th><th>status</th><th>role</th></tr></thead><tbody>
      ${p.companies.map(c => `<tr class="clickable" data-key="${esc(c.lead_key)}"><td>${esc(c.trade_name || c.legal_name)}</td>
        <td class="mono">${esc(c.registry_id)}</td><td>${esc(c.city)}/${esc(c.state)}</td><td>${esc(c.status)}</td>
        <td>${esc(c.qualification)}</td></tr>`).join("")}</tbody></table></div>`).join("") || '<p class="muted">nobody found</p>';
    $$("#people button[data-i]").forEach(b => b.addEventListener("click", async () => {
      const p = people[Number(b.dataset.i)];
      const r = await api("/api/partners/import", {method: "POST", json: {lead_keys: p.companies.map(c => c.lead_key), label: `companies of ${p.name}`}});
      location.hash = `#mission/${r.run_id}`;
    }));
    $$("#people tr[data-key]").forEach(tr => tr.addEventListener("click", () => { location.hash = "#lead/" + tr.dataset.key; }));
  });
}

// ---- ICP ----------------------------------------------------------------------------------

async function pageIcp(name) {
  const all = await api("/api/icp");
  const saved = new Set(all.profiles.map(p => p.name));
  const names = [...new Set([...all.templates, ...saved])].sort();
  main().innerHTML = `<h2>ICP profiles</h2><div class="cols">
  <div class="card"><table><thead><tr><th>name</th><th>origin</th><th>updated</th></tr></thead><tbody>
    ${names.map(n => `<tr class="clickable" data-name="${esc(n)}"><td>${esc(n)}</td><td>${saved.has(n) ? "saved" : "template"}</td>
    <td class="muted">${esc((all.profiles.find(p => p.name === n) || {}).updated_at || "")}</td></tr>`).join("")}</tbody></table></div>
  <form class="card" id="edit"><div class="row"><label>name<input name="name" id="icp-name" required pattern="[a-z0-9][a-z0-9_\\-]*"></label>
    <span class="spacer"></span><button>Save profile</button></div>
    <p class="muted">JSON: target_activities, regions, capital_min/max, min/max_age_years, keywords, exclusions, weights; the qualifier reads pain_keywords, hiring_keywords, technologies_wanted and technologies_avoided.</p>
    <textarea id="icp-json" spellcheck="false"></textarea></form></div>`;
  const open = async n => {
    const p = await api("/api/icp/" + encodeURIComponent(n));
    const body = {...p.profile}; delete body.name;
    $("#icp-name").value = p.origin === "template" && !saved.has(n) ? n + "-custom" : n;
    $("#icp-json").value = JSON.stringify(body, null, 2);
  };
  $$("tr[data-name]").forEach(tr => tr.addEventListener("click", () => open(tr.dataset.name)));
  $("#edit").addEventListener("submit", async e => {
    e.preventDefault();
    let body;
    try { body = JSON.parse($("#icp-json").value || "{}"); } catch (err) { flash("invalid JSON: " + err.message, true); return; }
    const n = $("#icp-name").value;
    await api("/api/icp/" + encodeURIComponent(n), {method: "PUT", json: body});
    flash(`profile ${n} saved`);
    setTimeout(() => pageIcp(n), 600);
  });
  await open(name || names[0]);
}

// ---- Recovery -----------------------------------------------------------------------------

function pageRecovery() {
  main().innerHTML = `<h2>Recovery</h2><form id="up" class="card">
    <p>Upload a CSV (for example one downloaded from Exports, or any Receita-like file) to reprocess it as a new run.</p>
    <div class="row"><input type="file" name="file" accept=".csv,text/csv" required>
    <label>enrich top<input name="enrich_top" type="number" step="0.05" min="0" max="1" value="0.2"></label>
    <button>Reprocess</button></div></form>`;
  $("#up").addEventListener("submit", async e => {
    e.preventDefault();
    const r = await api("/api/runs/upload", {method: "POST", body: new FormData(e.target)});
    flash(`${r.rows} rows: run ${r.run_id} requested`);
    location.hash = `#mission/${r.run_id}`;
  });
}

// ---- Diagnostics --------------------------------------------------------------------------

function chart(scores) {
  const w = 560, h = 180, pad = 28, bw = (w - pad) / 10;
  const max = Math.max(1, ...scores.bands.map(b => b.leads));
  const colour = f => f >= 80 ? "var(--hot)" : f >= 60 ? "var(--warm)" : f >= 40 ? "var(--nurture)" : "var(--parked)";
  return `<svg viewBox="0 0 ${w} ${h + 30}" width="${w}" role="img" aria-label="score distribution">
    ${scores.bands.map((b, i) => { const bh = Math.round((h - 20) * b.leads / max); const x = pad + i * bw;
      return `<rect x="${x + 3}" y="${h - bh}" width="${bw - 6}" height="${bh}" fill="${colour(b.from)}"><title>${b.from}–${b.to}: ${b.leads}</title></rect>
      <text x="${x + bw / 2}" y="${h - bh - 4}" text-anchor="middle">${b.leads || ""}</text>
      <text x="${x + bw / 2}" y="${h + 14}" text-anchor="middle">${b.from}</text>`; }).join("")}
    <line x1="${pad}" y1="${h}" x2="${w}" y2="${h}" stroke="#9ca3af"/>
    <text x="${pad}" y="${h + 28}">score band →</text></svg>
    <div class="row">${BUCKETS.map(b => `${bucket(b)} <strong>${scores.buckets[b]}</strong>`).join(" · ")}</div>`;
}

const DIAG_TABS = {steps: "Steps", api_calls: "API calls", errors: "Errors", logs: "Logs", rejects: "Rejects"};

async function pageDiagnostics(query) {
  const token = routeToken;  // a render that finishes after a newer route (another tab) must not touch its DOM
  const params = new URLSearchParams(query || "");
  const table = DIAG_TABS[params.get("table")] ? params.get("table") : "steps";
  const runId = params.get("run_id") || "";
  const tabLink = t => { const q = new URLSearchParams({...Object.fromEntries(params), table: t}); q.delete("reason"); q.delete("offset");
    return `<a href="#diagnostics?${esc(q)}" data-tab="${t}" class="${t === table ? "active" : ""}">${DIAG_TABS[t]}</a>`; };
  main().innerHTML = `<h2>Diagnostics</h2>
  <nav class="tabs" id="diag-tabs">${Object.keys(DIAG_TABS).map(tabLink).join("")}</nav>
  <form id="diag" class="card row"><input type="hidden" name="table" value="${esc(table)}">
    <label>run<input name="run_id" value="${esc(runId)}"></label>
    ${table === "rejects" ? `<label>reason<select name="reason"><option value="">any</option></select></label>`
      : `<label>service / stage<input name="svc" value="${esc(params.get("svc") || "")}"></label>
    <label class="check"><input type="checkbox" name="errors_only" value="true" ${params.get("errors_only") ? "checked" : ""}> errors only</label>`}
    <button>Show</button></form>
  <div class="cols"><div class="card"><h3>Score distribution</h3><div id="chart"></div></div>
  <div class="card"><h3>API calls by service</h3><table id="calls"><thead><tr><th>service</th><th>calls</th><th>errors</th><th>avg ms</th><th>cache hits</th></tr></thead><tbody></tbody></table></div></div>
  <div class="row"><h3 id="tt"></h3><span class="spacer"></span><span id="more"></span></div><table id="diag-rows"><thead></thead><tbody></tbody></table>`;
  $("#diag").addEventListener("submit", e => { e.preventDefault(); location.hash = "#diagnostics?" + new URLSearchParams(formData(e.target)); });
  const summary = await api("/api/diagnostics/summary?" + new URLSearchParams(runId ? {run_id: runId} : {}));
  if (token !== routeToken) return;
  $("#chart").innerHTML = chart(summary.scores);
  $("#calls tbody").innerHTML = summary.api_calls.map(s => `<tr><td>${esc(s.service)}</td><td>${s.calls}</td><td>${s.errors}</td>
    <td>${s.avg_latency_ms}</td><td>${s.cache_hits}</td></tr>`).join("") || '<tr><td colspan="5" class="muted">none</td></tr>';
  if (table === "rejects") return showRejects(params, runId);
  const q = {limit: 100};
  if (runId) q.run_id = runId;
  const svc = params.get("svc");
  if (svc) q[table === "steps" || table === "errors" ? "stage" : "service"] = svc;
  if (params.get("errors_only")) q.errors_only = true;
  const rows = await api(`/api/diagnostics/${table}?` + new URLSearchParams(q));
  if (token !== routeToken) return;
  $("#tt").textContent = `${DIAG_TABS[table]}: ${rows.total}`;
  const cols = rows.items.length ? Object.keys(rows.items[0]).filter(k => !["idx"].includes(k)) : [];
  $("#diag-rows thead").innerHTML = `<tr>${cols.map(c => `<th>${esc(c)}</th>`).join("")}</tr>`;
  $("#diag-rows tbody").innerHTML = rows.items.map(r => `<tr>${cols.map(c => {
    const v = r[c]; return `<td class="mono">${esc(typeof v === "object" && v !== null ? counts(v) : String(v ?? "").slice(0, 300))}</td>`;
  }).join("")}</tr>`).join("");
}

async function showRejects(params, runId) {
  const q = {limit: 200, offset: Number(params.get("offset") || 0)};
  if (runId) q.run_id = runId;
  if (params.get("reason")) q.reason = params.get("reason");
  const token = routeToken;
  const rows = await api("/api/rejects?" + new URLSearchParams(q));
  if (token !== routeToken) return;
  $("#diag select[name=reason]").innerHTML = `<option value="">any</option>` + rows.reasons.map(r =>
    `<option value="${esc(r.code)}" ${r.code === q.reason ? "selected" : ""}>${esc(r.reason)} (${r.rows})</option>`).join("");
  const csv = new URLSearchParams(q); csv.delete("limit"); csv.delete("offset");
  $("#tt").textContent = `Rejected rows: ${rows.total}`;
  const next = q.offset + rows.items.length < rows.total;
  $("#more").innerHTML = `${rows.total ? `rows ${q.offset + 1}–${q.offset + rows.items.length} ` : ""}
    ${next ? `<a href="#diagnostics?${esc(new URLSearchParams({...Object.fromEntries(params), offset: q.offset + q.limit}))}">next</a> · ` : ""}
    <a id="rejects-csv" href="/api/rejects.csv?${esc(csv)}" download>Download CSV</a>`;
  $("#diag-rows thead").innerHTML = "<tr><th>reason</th><th>detail</th><th>source file</th><th>line</th><th>run</th><th>lead</th></tr>";
  $("#diag-rows tbody").innerHTML = rows.items.map(r => `<tr><td>${esc(r.reason)}</td><td class="mono">${esc(r.detail)}</td>
    <td class="mono">${esc(r.source_file)}</td><td>${esc(r.source_line)}</td><td class="mono">${esc(r.run_id)}</td>
    <td class="mono">${esc(r.lead_key)}</td></tr>`).join("")
    || '<tr><td colspan="6" class="muted">no rejected rows</td></tr>';
}

// ---- Config -------------------------------------------------------------------------------

async function pageConfig() {
  const cfg = await api("/api/config");
  const field = (k, label, type = "text") => {
    const c = cfg[k] || {};
    const hint = c.secret ? (c.set ? "set — leave empty to keep" : "not set") : "";
    return `<label>${label}<input name="${k}" type="${c.secret ? "password" : type}" value="${c.secret ? "" : esc(c.value ?? "")}"
      placeholder="${hint}" ${type === "number" ? 'step="any"' : ""} autocomplete="off"></label>`;
  };
  main().innerHTML = `<h2>Config</h2><form id="cfg" class="card">
    <h3>Webhook (finished runs and exports)</h3><div class="grid">${field("webhook_url", "URL", "url")}${field("webhook_secret", "HMAC secret")}</div>
    <h3>Provider keys</h3><div class="grid">${field("serper_api_key", "Serper (search) API key")}${field("casa_dos_dados_api_key", "Casa dos Dados API key")}</div>
    <h3>Enrichment</h3><div class="grid">${field("enrich_top_default", "default enrich top (0–1)", "number")}
      ${field("fetch_pages_per_site", "pages per site", "number")}
      <label>browser fallback<select name="enable_playwright"><option value="">unchanged</option>
        <option value="true" ${cfg.enable_playwright.value === "true" ? "selected" : ""}>on</option>
        <option value="false" ${cfg.enable_playwright.value === "false" ? "selected" : ""}>off</option></select></label></div>
    <p><button>Save</button></p></form>`;
  await renderAgendaSettings();  // agenda.js
  $("#cfg").addEventListener("submit", async e => {
    e.preventDefault();
    const f = formData(e.target);
    for (const k of ["enrich_top_default", "fetch_pages_per_site"]) if (f[k] !== undefined) f[k] = Number(f[k]);
    if (f.enable_playwright !== undefined) f.enable_playwright = f.enable_playwright === "true";
    const r = await api("/api/config", {method: "PUT", json: f});
    flash(`saved: ${r.saved.join(", ") || "nothing changed"}`);
    setTimeout(pageConfig, 800);
  });
}

// ---- routing ------------------------------------------------------------------------------

const PAGES = {mission: pageMission, vault: pageVault, lead: pageLead, person: pagePerson, icp: pageIcp,
  exports: pageExports, recovery: pageRecovery, diagnostics: pageDiagnostics, config: pageConfig,
  run: pageRun, batch: pageBatch, agenda: pageAgenda};  // pageRun, pageBatch: report.js; pageAgenda: agenda.js

let routeToken = 0;  // a page render that finishes after a newer route started must not touch the new DOM

async function route() {
  routeToken += 1;
  timers.forEach(clearInterval); timers = [];
  if (live) { live.close(); live = null; }
  const hash = location.hash.slice(1) || "mission";
  const [path, query] = hash.split("?");
  const [page, ...rest] = path.split("/");
  const arg = rest.length ? decodeURIComponent(rest.join("/")) : query;
  $$("#nav a").forEach(a => a.classList.toggle("active", a.dataset.page === ({lead: "vault", run: "mission", batch: "mission"}[page] || page)));
  try { await (PAGES[page] || pageMission)(arg); } catch (err) { console.error(err); }
}
window.addEventListener("hashchange", route);
route();
