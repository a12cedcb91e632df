"""A minimal single-page UI over the API (runs, live steps, leads)."""

INDEX_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Hunter</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;font-size:.9rem}
.hot{color:#c0392b;font-weight:600}.warm{color:#d35400}.nurture{color:#2980b9}.parked{color:#7f8c8d}
form input{margin-right:.5rem}
</style></head><body>
<h1>Hunter</h1>
<section><h2>Runs</h2><table id="runs"><thead><tr><th>run</th><th>source</th><th>status</th>
<th>counts</th></tr></thead><tbody></tbody></table></section>
<section><h2>Leads</h2>
<form id="f">bucket <input name="bucket" size="8"> uf <input name="uf" size="3"> search <input name="q">
<button>filter</button></form>
<table id="leads"><thead><tr><th>score</th><th>bucket</th><th>company</th><th>city</th><th>phone</th>
<th>whatsapp</th><th>technologies</th></tr></thead><tbody></tbody></table></section>
<script>
const esc = s => String(s ?? "").replace(/[&<>"]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"}[c]));
async function runs(){
  const r = await (await fetch("/api/runs")).json();
  document.querySelector("#runs tbody").innerHTML = r.map(x =>
    `<tr><td>${esc(x.run_id)}</td><td>${esc(x.source)}</td><td>${esc(x.status)}</td>
     <td>${esc(Object.entries(x.counts).map(([k,v])=>k+"="+v).join(" "))}</td></tr>`).join("");
}
async function leads(){
  const p = new URLSearchParams([...new FormData(document.querySelector("#f"))].filter(([k,v])=>v));
  const r = await (await fetch("/api/leads?"+p)).json();
  document.querySelector("#leads tbody").innerHTML = r.items.map(x =>
    `<tr><td>${esc(x.score)}</td><td class="${esc(x.bucket)}">${esc(x.bucket)}</td>
     <td>${esc(x.trade_name || x.legal_name)}</td><td>${esc(x.city)}/${esc(x.state)}</td>
     <td>${esc(x.phone)}</td><td>${esc(x.whatsapp)}</td><td>${esc(x.technologies)}</td></tr>`).join("");
}
document.querySelector("#f").addEventListener("submit", e => {e.preventDefault(); leads();});
runs(); leads(); setInterval(runs, 3000);
</script></body></html>
"""
