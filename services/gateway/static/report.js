"use strict";
// The Run page (#run/<id>): the run report drawn from GET /api/runs/{id}/report, as server data
// rendered into inline SVG (no chart library, works offline). Loaded before app.js, which routes to it.

const pct = r => (r === null || r === undefined) ? "–" : `${(100 * r).toFixed(1)}%`;
const num = n => (n === null || n === undefined) ? "–" : Number(n).toLocaleString("en-US");
const svgEsc = v => String(v ?? "").replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));

function funnelSvg(funnel) {
  const top = Math.max(1, ...funnel.map(f => f.count));
  const rowH = 26, labelW = 230, barW = 520, h = funnel.length * rowH + 8;
  const rows = funnel.map((f, i) => {
    const w = Math.max(2, Math.round(barW * f.count / top)), y = i * rowH + 4;
    const rate = f.of ? ` · ${pct(f.rate)} of ${f.of.replace("_", " ")}` : "";
    return `<g class="funnel-step" data-step="${svgEsc(f.step)}">
      <text x="${labelW - 8}" y="${y + 16}" text-anchor="end">${svgEsc(f.label)}</text>
      <rect x="${labelW}" y="${y}" width="${w}" height="${rowH - 6}" rx="3" fill="${f.step === "hot" ? "#dc2626" : "#2563eb"}" opacity="${0.45 + 0.55 * f.count / top}"></rect>
      <text x="${labelW + w + 6}" y="${y + 16}">${num(f.count)}${svgEsc(rate)}</text></g>`;
  }).join("");
  return `<svg id="funnel" role="img" aria-label="run funnel" width="100%" viewBox="0 0 ${labelW + barW + 230} ${h}">${rows}</svg>`;
}

function timelineSvg(timeline) {
  const stages = timeline.filter(s => s.started_at);
  if (!stages.length) return `<p class="muted">No stage has started yet.</p>`;
  const t = s => Date.parse(s);
  const t0 = Math.min(...stages.map(s => t(s.started_at)));
  const t1 = Math.max(...stages.map(s => t(s.ended_at || s.started_at)), t0 + 1);
  const rowH = 24, labelW = 80, barW = 560, h = stages.length * rowH + 22;
  const x = ms => labelW + Math.round(barW * (ms - t0) / (t1 - t0));
  const rows = stages.map((s, i) => {
    const y = i * rowH + 4, a = x(t(s.started_at)), b = s.ended_at ? x(t(s.ended_at)) : a;
    const colour = s.status === "failed" || s.status === "cancelled" ? "#dc2626" : s.status === "completed" ? "#16a34a" : "#2563eb";
    const speed = s.rows_per_s ? `, ${num(s.rows_per_s)} rows/s` : "";
    return `<g class="timeline-stage"><text x="${labelW - 8}" y="${y + 14}" text-anchor="end">${svgEsc(s.stage)}</text>
      <rect x="${a}" y="${y}" width="${Math.max(3, b - a)}" height="${rowH - 8}" rx="3" fill="${colour}"></rect>
      <text x="${Math.max(a, b) + 6}" y="${y + 14}">${s.seconds === null ? svgEsc(s.status) : `${s.seconds.toFixed(2)} s`}${svgEsc(speed)}</text></g>`;
  }).join("");
  const total = ((t1 - t0) / 1000).toFixed(1);
  return `<svg id="timeline" role="img" aria-label="stage timeline" width="100%" viewBox="0 0 ${labelW + barW + 200} ${h}">${rows}
    <text x="${labelW}" y="${h - 4}">0 s</text><text x="${labelW + barW}" y="${h - 4}" text-anchor="end">${total} s</text></svg>`;
}

const kpiBadge = s => s ? `<span class="kpi ${s === "MET" ? "met" : "not-met"}">${svgEsc(s)}</span>` : "";

async function pageRun(runId) {
  if (!runId) { location.hash = "#mission"; return; }
  const r = await api(`/api/runs/${encodeURIComponent(runId)}/report`);
  const k = r.kpi;
  main().innerHTML = `
  <h2>Run report <span class="mono">${esc(r.run_id)}</span> ${pill(r.status)} ${kpiBadge(k.overall)}</h2>
  <div class="card kv">
    <div>label</div><div>${esc(r.label || "–")}</div><div>source</div><div class="mono">${esc(r.source)}</div>
    <div>ICP</div><div>${esc(r.icp || "default")}</div>
    <div>duration</div><div>${r.seconds === null ? "–" : `${r.seconds.toFixed(1)} s`}${r.rows_per_s ? ` (${num(r.rows_per_s)} rows/s)` : ""}</div>
    <div>quality score</div><div id="quality"><strong>${r.quality_score === null ? "–" : r.quality_score}</strong> / 100
      <span class="muted">(reject rate ${pct(r.reject_rate)})</span></div>
    ${r.message ? `<div>message</div><div>${esc(r.message)}</div>` : ""}
  </div>
  <div class="row"><a href="#vault?run_id=${encodeURIComponent(r.run_id)}">open its leads</a>
    <a href="#mission/${encodeURIComponent(r.run_id)}">follow it live</a>
    <a href="#diagnostics?run_id=${encodeURIComponent(r.run_id)}">diagnostics</a>
    <a href="/api/runs/${encodeURIComponent(r.run_id)}/report" target="_blank" rel="noopener">JSON</a></div>
  <h3>Funnel</h3><div class="card">${funnelSvg(r.funnel)}</div>
  <div class="cols">
    <div><h3>KPI targets</h3>${k.targets.length ? `<table id="kpis"><thead><tr><th>target</th><th>goal</th><th>actual</th><th></th></tr></thead><tbody>
      ${k.targets.map(t => `<tr><td>${esc(t.label)}</td><td>${esc(t.op)} ${esc(t.goal)}</td><td>${esc(t.actual ?? "–")}</td><td>${kpiBadge(t.status)}</td></tr>`).join("")}
      </tbody></table>` : `<p class="muted">No KPI targets set for this run (set them on the hunt or in its ICP profile).</p>`}</div>
    <div><h3>Coverage</h3><table id="coverage"><thead><tr><th>of ${num(r.leads)} leads</th><th>leads</th><th>share</th><th>weight in quality</th></tr></thead><tbody>
      ${Object.entries(r.coverage).map(([name, c]) => `<tr><td>${esc(name)}</td><td>${num(c.leads)}</td><td>${pct(c.rate)}</td><td>${pct(r.quality_weights[name])}</td></tr>`).join("")}
    </tbody></table></div>
  </div>
  <h3>Stage timeline</h3><div class="card">${timelineSvg(r.timeline)}</div>
  <div class="cols">
    <div><h3>Budgets</h3><table id="budgets"><thead><tr><th>budget</th><th>used</th><th>limit</th><th>share</th></tr></thead><tbody>
      ${r.budgets.map(b => `<tr><td>${esc(b.budget)}</td><td>${num(b.used)}</td><td>${num(b.limit)}</td><td>${pct(b.share)}</td></tr>`).join("")}
    </tbody></table></div>
    <div><h3>API calls</h3>${r.api_calls.length ? `<table id="api-calls"><thead><tr><th>provider</th><th>calls</th><th>errors</th><th>cache hits</th><th>avg ms</th><th>max ms</th></tr></thead><tbody>
      ${r.api_calls.map(c => `<tr><td>${esc(c.service)}</td><td>${num(c.calls)}</td><td>${num(c.errors)}</td><td>${num(c.cache_hits)}</td><td>${esc(c.avg_latency_ms)}</td><td>${esc(c.max_latency_ms)}</td></tr>`).join("")}
    </tbody></table>` : `<p class="muted">No API calls.</p>`}</div>
  </div>
  <h3>Top reject reasons</h3>${r.rejects.length ? `<table id="rejects"><thead><tr><th>reason</th><th>rows</th></tr></thead><tbody>
    ${r.rejects.map(x => `<tr><td><a href="#diagnostics?table=rejects&run_id=${encodeURIComponent(r.run_id)}&reason=${encodeURIComponent(x.reason)}">${esc(x.label)}</a></td><td>${num(x.rows)}</td></tr>`).join("")}</tbody></table>
    <p><a id="rejects-link" href="#diagnostics?table=rejects&run_id=${encodeURIComponent(r.run_id)}">see the rejected rows</a></p>` : `<p class="muted">No rows rejected.</p>`}`;
}

// The Batch page (#batch/<id>): one row per activity code, refreshed until every run has ended.
async function pageBatch(batchId) {
  if (!batchId) { location.hash = "#mission"; return; }
  main().innerHTML = `<h2>Batch <span class="mono">${esc(batchId)}</span> <span id="batch-status"></span></h2>
    <div class="card" id="batch-totals"></div>
    <table id="batch"><thead><tr><th>code</th><th>run</th><th>status</th><th>leads</th><th>hot</th><th>KPIs</th><th>duration</th><th>failure reason</th></tr></thead><tbody></tbody></table>
    <p><a href="/api/batches/${encodeURIComponent(batchId)}/summary.csv">download the summary (CSV)</a></p>`;
  const token = routeToken;
  const refresh = async () => {
    const b = await api(`/api/batches/${encodeURIComponent(batchId)}`);
    if (token !== routeToken) return;
    $("#batch-status").innerHTML = pill(b.status === "completed_with_failures" ? "failed" : b.status);
    const t = b.totals;
    $("#batch-totals").innerHTML = `${num(t.runs)} runs: ${num(t.completed)} completed, ${num(t.failed)} failed · ${num(t.leads)} leads, ${num(t.hot)} hot · KPIs met in ${num(t.kpi_met)}`;
    $("#batch tbody").innerHTML = b.runs.map(r => `<tr data-run="${esc(r.run_id)}" data-status="${esc(r.status)}">
      <td class="mono">${esc(r.code)}</td><td><a href="#run/${encodeURIComponent(r.run_id)}">report</a> · <a href="#vault?run_id=${encodeURIComponent(r.run_id)}">leads</a></td>
      <td>${pill(r.status)}</td><td>${num(r.leads)}</td><td>${num(r.hot)}</td><td>${kpiBadge(r.kpi) || "–"}</td>
      <td>${r.seconds === null ? "–" : `${r.seconds.toFixed(1)} s`}</td><td>${esc(r.message)}</td></tr>`).join("");
    return b.status !== "running";
  };
  if (!(await refresh())) {
    const timer = setInterval(async () => { if (await refresh()) clearInterval(timer); }, 2000);
    timers.push(timer);
  }
}

// Mission: add one lead by hand (POST /api/leads); it runs through the pipeline as a run of its own.
function renderManualLead() {
  const card = document.createElement("details");
  card.className = "card"; card.id = "manual-lead";
  card.innerHTML = `<summary><strong>Add one lead by hand</strong> <span class="muted">— by CNPJ, SIREN or SIRET</span></summary>
    <form id="manual" class="grid" style="margin-top:.6rem">
      <label>CNPJ / SIREN / SIRET<input name="registry_id" required placeholder="19.131.243/0001-97"></label>
      <label>name<input name="name"></label><label>website<input name="website" placeholder="empresa.com.br"></label>
      <label>phone<input name="phone"></label><label>e-mail<input name="email" type="email"></label>
      <label>city<input name="city"></label><label>UF<input name="uf" maxlength="3"></label>
      <button>Add and enrich</button></form>`;
  $("#watch").before(card);
  $("#manual", card).addEventListener("submit", async e => {
    e.preventDefault();
    const r = await api("/api/leads", {method: "POST", json: formData(e.target)});
    flash(`${r.lead_key} added: run ${r.run_id}`);
    location.hash = `#mission/${r.run_id}`;
  });
}

// Mission: pickers over the form's text fields — sources listed by the server, states, city and activity
// suggestions — so nobody has to type URIs and codes from memory (the fields stay editable).
async function enhanceMissionForm() {
  const form = $("#hunt");
  if (!form) return;
  const s = await api("/api/sources");
  const src = $("#source", form);
  const pick = document.createElement("label");
  const when = x => `${x.modified.slice(0, 10)}, ${(x.bytes / 1e6).toFixed(1)} MB`;
  pick.innerHTML = `source picker<select id="source-pick"><option value="">choose a source…</option>
    ${["imports", "uploads"].map(where => {
      const items = s.items.filter(x => x.where === where);
      return items.length ? `<optgroup label="${where === "imports" ? `imports (${esc(s.imports_dir)})` : "uploaded CSVs"}">
        ${items.map(x => `<option value="${esc(x.uri)}">${esc(x.kind.toUpperCase())} · ${esc(x.name)} (${esc(when(x))})</option>`).join("")}</optgroup>` : "";
    }).join("")}
    <option value="casadosdados" ${s.casadosdados.key_set ? "" : "disabled"}>Casa dos Dados API${s.casadosdados.key_set ? "" : " — no key set (Config page)"}</option>
    </select>`;
  src.closest("label").before(pick);
  $("#source-pick").addEventListener("change", e => { if (e.target.value) src.value = e.target.value; });

  const ufInput = $("input[name=uf]", form);
  const ufPick = document.createElement("select");
  ufPick.multiple = true; ufPick.id = "uf-pick"; ufPick.size = 3; ufPick.title = "states (Ctrl/⌘ to choose several)";
  ufPick.innerHTML = s.ufs.map(u => `<option>${u}</option>`).join("");
  ufInput.after(ufPick);
  ufPick.addEventListener("change", () => { ufInput.value = [...ufPick.selectedOptions].map(o => o.value).join(", "); });

  const suggest = (input, listId, fetcher) => {
    const dl = document.createElement("datalist"); dl.id = listId; input.setAttribute("list", listId); input.after(dl);
    let t = null;
    input.addEventListener("input", () => {
      clearTimeout(t);
      t = setTimeout(async () => { dl.innerHTML = (await fetcher(input.value)).join(""); }, 200);
    });
  };
  const last = v => v.split(",").pop().trim();
  suggest($("input[name=city]", form), "city-list", async v => {
    if (last(v).length < 2) return [];
    const q = new URLSearchParams({q: last(v)});
    ufInput.value.split(",").map(x => x.trim()).filter(Boolean).forEach(u => q.append("uf", u.toUpperCase()));
    return (await api("/api/catalog/cities?" + q)).map(c => `<option value="${esc(c.city)}">${esc(c.uf)}</option>`);
  });
  suggest($("input[name=cnae]", form), "cnae-list", async v => {
    if (last(v).length < 2) return [];
    return (await api("/api/catalog/activities?" + new URLSearchParams({q: last(v)}))).map(a =>
      `<option value="${esc(a.code)}">${esc(a.description || "")}${a.companies ? ` — ${a.companies} in the vault` : ""}</option>`);
  });
}
