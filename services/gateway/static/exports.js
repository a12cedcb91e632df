"use strict";
// The Exports page (#exports/<focus>): each export with when it was created, its filter in words, rows, size
// and checksum; and the bulk exports a run's source asked a provider for (Casa dos Dados), with the provider's
// status while it processes them. Loaded before app.js, which routes to it; every value is escaped.

const exportKb = n => `${(Number(n || 0) / 1024).toFixed(1)} KB`;
const exportWhen = t => t ? esc(String(t).replace("T", " ").slice(0, 19)) : "–";

function exportRow(e, focus) {
  const files = Object.keys(e.files || {}).map(f => `<a class="dl" data-format="${esc(f)}"
    href="/api/exports/${encodeURIComponent(e.export_id)}/download?format=${encodeURIComponent(f)}">${esc(f.toUpperCase())}</a>`);
  return `<tr data-export="${esc(e.export_id)}" data-status="${esc(e.status)}"${e.export_id === focus ? ' class="focus"' : ""}>
    <td class="created">${exportWhen(e.created_at)}</td>
    <td><div class="filter-words">${esc(e.filter_words)}</div><div class="mono muted">${esc(e.export_id)}</div></td>
    <td>${pill(e.status)}${e.error ? `<div class="muted">${esc(e.error)}</div>` : ""}</td>
    <td class="rows">${esc(e.rows)}</td><td class="size">${exportKb(e.bytes)}</td>
    <td class="mono sha" title="${esc(e.sha256)}">${esc((e.sha256 || "").slice(0, 12)) || "–"}</td>
    <td>${files.join(" ")}</td></tr>`;
}

function sourceExportRow(x) {
  const run = x.run_id ? `<a href="#run/${encodeURIComponent(x.run_id)}" class="mono">${esc(x.run_id)}</a>` : "–";
  return `<tr data-request="${esc(x.request_id)}" data-status="${esc(x.status)}">
    <td>${exportWhen(x.requested_at)}</td><td>${esc(x.provider)}</td><td class="mono">${esc(x.request_id)}</td><td>${run}</td>
    <td>${pill(x.status)} <span class="muted">${esc(x.status_words)}</span>${x.message ? `<div class="muted">${esc(x.message)}</div>` : ""}</td>
    <td>${x.rows === null || x.rows === undefined ? "–" : esc(x.rows)}</td><td>${exportWhen(x.updated_at)}</td></tr>`;
}

async function pageExports(focus) {
  main().innerHTML = `<h2>Exports</h2>
  <table id="exports"><thead><tr><th>created</th><th>filter</th><th>status</th><th>rows</th><th>size</th>
    <th>sha256</th><th>download</th></tr></thead><tbody></tbody></table>
  <h3>Provider exports <span class="muted">(Casa dos Dados export files a run asked for, as the provider reports them)</span></h3>
  <table id="source-exports"><thead><tr><th>requested</th><th>provider</th><th>request</th><th>run</th><th>status</th>
    <th>rows</th><th>last checked</th></tr></thead><tbody></tbody></table>`;
  const refresh = async () => {
    const [rows, asked] = await Promise.all([api("/api/exports"), api("/api/source-exports")]);
    $("#exports tbody").innerHTML = rows.map(e => exportRow(e, focus)).join("")
      || `<tr><td colspan="7" class="muted">No export yet.</td></tr>`;
    $("#source-exports tbody").innerHTML = asked.map(sourceExportRow).join("")
      || `<tr><td colspan="7" class="muted">No provider export asked for.</td></tr>`;
  };
  await refresh();
  timers.push(setInterval(refresh, 2000));
}
