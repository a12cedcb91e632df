// The lead page's qualification card: fit, pain / need and data quality, tags, the snapshot and, when an LLM
// qualified the lead, its SPIN notes and the best first angle. (esc, $, routeToken: app.js)
async function renderQualification(key, token) {
  let q = null;
  try {
    const r = await fetch(`/api/leads/${encodeURIComponent(key)}/qualification`);
    q = r.ok ? await r.json() : null;
  } catch (err) { q = null; }
  const card = $("#qualification-card");
  if (token !== routeToken || !card) return;
  if (!q) {
    card.innerHTML = `<h3>Qualification</h3><span class="muted">not qualified yet: leads are qualified once enriched</span>`;
    return;
  }
  const how = q.method === "llm" ? `LLM ${esc(q.model)}${q.cached ? " (cached)" : ""}`
    : `rules${q.llm_error ? ` <span class="muted">(LLM: ${esc(q.llm_error)})</span>` : ""}`;
  const spin = q.spin ? `<div class="kv">${["situation", "problem", "implication", "need_payoff"].map(k =>
    `<div>${esc(k.replace("_", "-"))}</div><div>${esc(q.spin[k])}</div>`).join("")}</div>` : "";
  card.innerHTML = `<h3>Qualification <strong id="qualification-score">${esc(q.score)}</strong>
    <span class="muted">/100 · ${how}</span></h3>
    <div class="kv"><div>fit</div><div>${esc(q.fit)} / 50</div><div>pain / need</div><div>${esc(q.pain)} / 40</div>
      <div>data quality</div><div>${esc(q.data_quality)} / 10</div></div>
    <div id="qualification-tags">${(q.tags || []).map(t => `<span class="pill">${esc(t)}</span>`).join(" ")}</div>
    <p id="qualification-snapshot">${esc(q.snapshot)}</p>
    ${(q.signals || []).length ? `<div class="muted">${q.signals.map(esc).join(" · ")}</div>` : ""}
    ${spin}${q.first_angle ? `<div><strong>first angle:</strong> ${esc(q.first_angle)}</div>` : ""}`;
}
