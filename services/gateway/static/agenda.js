"use strict";
// The Agenda page (#agenda or #agenda/<YYYY-MM-DD>): today's tasks per lane, each with the lead, why it is
// there, when, its channels and buttons that record the outcome (which moves the lead's funnel). Nothing
// is sent from here: a person acts, then records what happened.

const LANE_WORDS = {contact: "Contact", follow_up: "Follow up", check: "Check"};
const OUTCOMES = {
  contact: [["contacted", "Contacted", {status: "contacted"}], ["no_answer", "No answer", {activity: "call", text: "no answer"}],
            ["lost", "Not interested", {status: "lost"}], ["dnc", "Do not contact", {status: "do_not_contact"}]],
  follow_up: [["touched", "Followed up", {activity: "email", text: "follow-up sent"}], ["replied", "Replied", {status: "replied"}],
              ["lost", "Lost", {status: "lost"}], ["dnc", "Do not contact", {status: "do_not_contact"}]],
  check: [["meeting", "Meeting", {status: "meeting"}], ["won", "Won", {status: "won"}], ["lost", "Lost", {status: "lost"}],
          ["note", "Checked in", {activity: "note", text: "checked in"}]],
};

function channelLinks(t) {
  const links = [];
  if (t.phone) links.push(`<a href="tel:${esc(t.phone)}">${esc(t.phone)}</a>`);
  if (t.whatsapp_link) links.push(`<a href="${esc(t.whatsapp_link)}" target="_blank" rel="noopener noreferrer">WhatsApp</a>`);
  if (t.email) links.push(`<a href="mailto:${esc(t.email)}">${esc(t.email)}</a>`);
  if (t.site && /^https?:\/\//i.test(t.site)) links.push(`<a href="${esc(t.site)}" target="_blank" rel="noopener noreferrer">site</a>`);
  for (const [name, url] of Object.entries(t.socials || {})) {
    if (/^https?:\/\//i.test(url)) links.push(`<a href="${esc(url)}" target="_blank" rel="noopener noreferrer">${esc(name)}</a>`);
  }
  return links.join(" · ") || `<span class="muted">no channel</span>`;
}

async function pageAgenda(day) {
  const q = day ? `?date=${encodeURIComponent(day)}` : "";
  const a = await api(`/api/agenda${q}`);
  main().innerHTML = `<h2>Agenda <span class="muted">${esc(a.date)} · ${esc(a.timezone)} · ${esc(a.hours)}</span></h2>
    <div class="row"><label>day<input type="date" id="agenda-day" value="${esc(a.date)}"></label>
      <span class="muted">contacted today ${esc(a.contacted_today)}, this week ${esc(a.contacted_this_week)};
      room for ${esc(a.contact_room_today)} more contacts today</span></div>
    <div class="row" id="ranking-line"></div>
    ${a.working_day ? "" : `<div class="card muted">Not a working day: no tasks (working days are set on the Config page).</div>`}
    ${a.lanes.map(l => `<h3>${esc(LANE_WORDS[l.lane])} <span class="muted">${esc(l.tasks.length)} of up to ${esc(l.limit)}</span></h3>
      ${l.tasks.length ? `<table class="agenda" data-lane="${esc(l.lane)}"><thead><tr><th>when</th><th>lead</th><th>why</th><th>channels</th><th>outcome</th></tr></thead><tbody>
      ${l.tasks.map(t => `<tr data-lead="${esc(t.lead_key)}"><td class="mono">${esc(t.due_at.slice(11, 16))}</td>
        <td><a href="#lead/${encodeURIComponent(t.lead_key)}">${esc(t.name || t.lead_key)}</a>
          <div class="muted">${esc([t.city, t.uf].filter(Boolean).join(" / "))} ${bucket(t.bucket)} ${esc(t.score ?? "")}</div></td>
        <td>${esc(t.why)}</td><td>${channelLinks(t)}</td>
        <td>${OUTCOMES[l.lane].map(([k, label]) => `<button class="secondary outcome" data-outcome="${k}">${esc(label)}</button>`).join(" ")}</td></tr>`).join("")}
      </tbody></table>` : `<p class="muted">Nothing in this lane today.</p>`}`).join("")}`;
  $("#agenda-day").addEventListener("change", e => { location.hash = `#agenda/${e.target.value}`; });
  rankingLine().catch(err => console.error(err));
  $$("table.agenda").forEach(table => table.addEventListener("click", async ev => {
    const btn = ev.target.closest("button.outcome");
    if (!btn) return;
    const key = btn.closest("tr").dataset.lead, lane = table.dataset.lane;
    const [, label, what] = OUTCOMES[lane].find(([k]) => k === btn.dataset.outcome);
    const path = `/api/leads/${encodeURIComponent(key)}/` + (what.status ? "status" : "activities");
    const body = what.status ? {status: what.status, note: "from the agenda"} : {kind: what.activity, text: what.text};
    await api(path, {method: "POST", json: body});
    flash(`${label}: recorded`);
    btn.closest("tr").classList.add("done");
    btn.closest("td").innerHTML = `<span class="pill completed">${esc(label)}</span>`;
  }));
}

// The lanes' settings, a card of the Config page (saved as a ConfigSaved event).
async function renderAgendaSettings() {
  const s = await api("/api/agenda/settings");
  const days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
  const num = (k, label) => `<label>${label}<input name="${k}" type="number" min="0" value="${esc(s[k])}"></label>`;
  const card = document.createElement("form");
  card.id = "agenda-settings"; card.className = "card";
  card.innerHTML = `<h3>Agenda lanes</h3><div class="grid">
    <label>time zone<input name="timezone" value="${esc(s.timezone)}"></label>
    <label>work starts<input name="work_start" type="time" value="${esc(s.work_start.slice(0, 5))}"></label>
    <label>work ends<input name="work_end" type="time" value="${esc(s.work_end.slice(0, 5))}"></label>
    ${num("jitter_minutes", "jitter (minutes)")}${num("contact_daily", "contacts a day")}${num("contact_weekly", "contacts a week")}
    ${num("follow_up_first_days", "first follow-up after (days)")}${num("follow_up_max", "follow-ups at most")}
    ${num("follow_up_daily", "follow-ups a day")}${num("check_after_days", "check after quiet (days)")}${num("check_daily", "checks a day")}
    </div><div class="row">${days.map((d, i) => `<label class="check"><input type="checkbox" name="wd" value="${i}" ${s.weekdays.includes(i) ? "checked" : ""}> ${d}</label>`).join("")}</div>
    <p><button>Save the lanes</button></p>`;
  main().appendChild(card);
  card.addEventListener("submit", async e => {
    e.preventDefault();
    const f = Object.fromEntries(new FormData(card));
    const body = {timezone: f.timezone, work_start: f.work_start, work_end: f.work_end,
      weekdays: $$("input[name=wd]:checked", card).map(x => Number(x.value))};
    for (const k of ["jitter_minutes", "contact_daily", "contact_weekly", "follow_up_first_days", "follow_up_max",
                     "follow_up_daily", "check_after_days", "check_daily"]) body[k] = Number(f[k]);
    await api("/api/agenda/settings", {method: "PUT", json: body});
    flash("agenda lanes saved");
  });
}

// The lead page's propensity card: what the ranker learned of this lead, and the features that moved it.
async function renderPropensity(key, token) {
  let p = null;
  try { p = await (await fetch(`/api/ranking/leads/${encodeURIComponent(key)}`)).json(); } catch (err) { p = null; }
  const card = $("#propensity-card");
  if (token !== routeToken || !card) return;
  if (!p || p.propensity === undefined || p.propensity === null) {
    card.innerHTML = `<h3>Propensity</h3><span class="muted">no learned ranking for this lead yet: the ICP score ranks it (cold start)</span>`;
    return;
  }
  card.innerHTML = `<h3>Propensity <strong id="propensity">${(100 * p.propensity).toFixed(0)}%</strong>
    <span class="muted">model v${esc(p.model_version)}${p.next_rank ? ` · next lead #${esc(p.next_rank)}${p.explored ? " (explored)" : ""}` : ""}</span></h3>
    <div class="muted">what moved it most</div>
    ${(p.top_features || []).map(f => `<div>${f.contribution > 0 ? "▲" : "▼"} ${esc(f.feature)} <span class="muted">${f.contribution > 0 ? "+" : ""}${esc(f.contribution)}</span></div>`).join("")}`;
}

// The Agenda page's header: what ranks the contact lane (the learned model or the ICP score), and a Train button.
async function rankingLine() {
  const r = await api("/api/ranking");
  const el = $("#ranking-line");
  if (!el) return;
  el.innerHTML = `<span class="muted">contact lane ranked by: ${esc(r.message)}</span>
    <button class="secondary" id="train">Train now</button>`;
  $("#train").addEventListener("click", async () => {
    await api("/api/ranking/train", {method: "POST"});
    flash("training requested: the ranker trains on the outcomes recorded so far");
  });
}
