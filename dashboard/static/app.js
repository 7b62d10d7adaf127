// OMEGA technician dashboard: plain JS, no dependencies, no CDN. Every ticket text is put into
// the page with textContent (never innerHTML): ticket bodies come from end users.
"use strict";

const state = { tenant: "", technician: "", selected: "", view: "queue", version: -1, queue: [],
  openCorrections: new Set(), detailSeq: 0 };
const qs = new URLSearchParams(location.search);
const tenantParam = qs.get("tenant") ? `tenant=${encodeURIComponent(qs.get("tenant"))}` : "";

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (v !== undefined && v !== null && v !== false) el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

async function api(path, body) {
  const sep = path.includes("?") ? "&" : "?";
  const url = `/api/shadow${path}${tenantParam ? sep + tenantParam : ""}`;
  const opts = { headers: { "X-Omega-Technician": state.technician, "Content-Type": "application/json" } };
  if (body !== undefined) { opts.method = "POST"; opts.body = JSON.stringify(body); }
  const resp = await fetch(url, opts);
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error((data.error && `${data.error.reason}: ${data.error.message}`) || `HTTP ${resp.status}`);
  return data;
}

function toast(text, bad = false) {
  const t = document.getElementById("toast");
  t.textContent = text; t.className = bad ? "toast bad" : "toast"; t.hidden = false;
  clearTimeout(toast.timer); toast.timer = setTimeout(() => { t.hidden = true; }, 3500);
}

const pct = (x) => `${Math.round((x || 0) * 100)}%`;
const rank = (p) => ({ critical: 0, p1: 0, urgent: 0, high: 1, p2: 1, medium: 2, normal: 2, low: 3, p4: 3 }[(p || "").toLowerCase()] ?? 2);
const ago = (t) => { const s = Math.max(0, Date.now() / 1000 - t); return s < 90 ? `${Math.round(s)} s ago` : s < 5400 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`; };

async function loadSession() {
  const s = await api("/session");
  state.tenant = s.tenant;
  document.getElementById("tenant").textContent = s.tenant;
  const sel = document.getElementById("technician");
  const saved = localStorage.getItem("omega.technician");
  sel.replaceChildren(...s.technicians.map((t) => h("option", { value: t }, t)));
  state.technician = s.technicians.includes(qs.get("technician")) ? qs.get("technician")
    : s.technicians.includes(saved) ? saved : s.technicians[0];
  sel.value = state.technician;
  const banner = document.getElementById("banner");
  banner.hidden = !s.writeback_note; banner.textContent = s.writeback_note;
}

function slaClass(r) { return r >= 1 ? "sla breach" : r >= 0.75 ? "sla risk" : "sla"; }

function renderQueue() {
  const list = document.getElementById("queue");
  document.getElementById("queue-count").textContent = `${state.queue.length} open`;
  list.replaceChildren(...state.queue.map((item) => {
    const t = item.ticket, p = item.proposal, cat = t.triage.category;
    return h("li", { class: t.id === state.selected ? "selected" : "", "data-testid": "queue-item", dataset: { ticket: t.id },
      onclick: () => { state.selected = t.id; renderQueue(); loadDetail(); } },
      h("div", { class: "row" },
        h("span", { class: `pill p${rank(item.priority)}` }, item.priority || "—"),
        h("span", { class: "pill" }, `${cat.label || "uncategorised"} · ${pct(cat.confidence)}`),
        p ? h("span", { class: `state ${p.state}`, "data-testid": "queue-state" }, p.auto ? `${p.state} (auto)` : p.state) : null),
      h("div", { class: "title" }, t.title || "(no title)"),
      h("div", { class: "row" }, h("small", {}, `${t.company || t.source} · ${ago(t.created_at)} · SLA ${pct(item.sla_risk)} used`)),
      h("div", { class: slaClass(item.sla_risk) }, h("i", { style: `width:${Math.min(100, item.sla_risk * 100)}%` })));
  }));
}

async function loadQueue() {
  const data = await api("/queue");
  state.queue = data.items;
  if (!state.queue.some((i) => i.ticket.id === state.selected)) state.selected = state.queue.length ? state.queue[0].ticket.id : "";
  renderQueue();
  await loadDetail();
}

function predictionRow(ticketId, name, pred) {
  const low = pred.confidence < 0.8;
  const key = `${ticketId}:${name}`;  // an open correction survives live re-renders
  const alts = h("div", { class: "alts", hidden: !state.openCorrections.has(key), "data-testid": `alts-${name}` },
    ...(pred.alternatives || []).map((a) => a[0]).filter((l) => l && l !== pred.label)
      .map((label) => h("button", { class: "chip", "data-testid": "correct-choice",
        onclick: () => correct(ticketId, name, label) }, label)),
    h("input", { placeholder: `other ${name}…`, size: 14, "data-testid": `correct-input-${name}`,
      onkeydown: (e) => { if (e.key === "Enter" && e.target.value.trim()) correct(ticketId, name, e.target.value.trim()); } }));
  return [
    h("div", { class: "pred", "data-testid": `pred-${name}` },
      h("b", {}, name),
      h("span", {}, h("span", { "data-testid": `label-${name}` }, pred.label || "—"), " ",
        h("small", {}, pred.method === "human" ? "(corrected)" : pred.method ? `(${pred.method})` : "")),
      h("span", {}, pct(pred.confidence)),
      h("button", { class: "link", "data-testid": `correct-${name}`, onclick: () => {
        alts.hidden = !alts.hidden;
        if (alts.hidden) state.openCorrections.delete(key); else state.openCorrections.add(key);
      } }, "Correct")),
    h("div", { class: low ? "bar low" : "bar" }, h("i", { style: `width:${pct(pred.confidence)}` })),
    alts,
  ];
}

async function correct(ticketId, name, label) {
  try {
    await api(`/tickets/${ticketId}/correct`, { [name]: label });
    state.openCorrections.delete(`${ticketId}:${name}`);
    toast(`${name} corrected to ${label}: written back and kept as a training example`);
    await refresh();
  } catch (e) { toast(e.message, true); }
}

async function decide(proposal, action) {
  try {
    if (action === "confirm") {
      const { token } = await api(`/proposals/${proposal.id}/token`, {});
      const p = await api(`/proposals/${proposal.id}/confirm`, { token });
      toast(`Proposal ${p.state.toLowerCase()}${p.execution ? ": " + p.execution : ""}`);
    } else if (action === "reject") {
      const reason = prompt("Why is this proposal wrong? (optional)") || "";
      await api(`/proposals/${proposal.id}/reject`, { reason });
      toast("Rejected: the ticket is unchanged and the model will learn from it");
    } else {
      await api(`/proposals/${proposal.id}/revert`, {});
      toast("Reverted with the executor's undo");
    }
    await refresh();
  } catch (e) { toast(e.message, true); }
}

function proposalCard(p) {
  if (!p) return h("div", { class: "card" }, h("h3", {}, "Proposal"), h("p", { class: "empty" }, "No proposal yet."));
  const rb = p.runbook_info;
  const buttons = p.state === "PROPOSED"
    ? [h("button", { class: "primary", "data-testid": "confirm", onclick: () => decide(p, "confirm") }, p.kind === "RUNBOOK" ? "Confirm & run" : "Confirm triage"),
       h("button", { class: "danger", "data-testid": "reject", onclick: () => decide(p, "reject") }, "Reject")]
    : p.state === "APPLIED" && p.kind === "RUNBOOK"
      ? [h("button", { class: "secondary", "data-testid": "revert", onclick: () => decide(p, "revert") }, "Revert")] : [];
  return h("div", { class: `card proposal ${p.state}`, "data-testid": "proposal" },
    h("h3", {}, "Proposal ", h("span", { class: `state ${p.state}`, "data-testid": "proposal-state" }, p.state)),
    rb ? h("div", {}, h("b", {}, rb.title), h("small", {}, `  confidence ${pct(p.confidence)} · threshold ${pct(rb.threshold)}`),
      h("div", { class: "dry", "data-testid": "dry-run" }, `dry run: would ${rb.dry_run}`),
      h("ul", { class: "reasons" }, ...(rb.why || []).map((w) => h("li", {}, w))))
      : h("div", {}, h("b", {}, "Write the triage to the PSA"), h("small", {}, ` (no runbook matches) · ${pct(p.confidence)}`)),
    h("p", {}, h("small", {}, p.auto_apply_reason)),
    p.execution ? h("p", {}, h("small", {}, p.execution)) : null,
    p.error ? h("p", {}, h("small", { style: "color:var(--bad)" }, p.error)) : null,
    h("div", { class: "actions" }, ...buttons));
}

async function loadDetail() {
  const box = document.getElementById("detail");
  if (!state.selected) { box.replaceChildren(h("p", { class: "empty" }, "Your queue is empty.")); return; }
  const seq = ++state.detailSeq, wanted = state.selected;
  let d;
  try { d = await api(`/tickets/${wanted}`); } catch (e) { box.replaceChildren(h("p", { class: "empty" }, e.message)); return; }
  if (seq !== state.detailSeq || wanted !== state.selected) return;  // a newer render is on its way
  const t = d.ticket, p = d.proposal, tri = t.triage;
  box.dataset.ticket = t.id;
  box.replaceChildren(
    h("h2", {}, t.title || "(no title)", " ", h("small", {}, `${t.source} ${t.number || t.external_id} · ${t.state}`)),
    h("p", { "data-testid": "summary" }, p ? p.summary : ""),
    h("div", { class: "grid" },
      h("div", { class: "card", "data-testid": "triage" }, h("h3", {}, "Triage ", h("small", {}, tri.model_version ? `model ${tri.model_version}` : "")),
        ...predictionRow(t.id, "category", tri.category), ...predictionRow(t.id, "priority", tri.priority),
        ...predictionRow(t.id, "queue", tri.queue),
        h("ul", { class: "reasons" }, ...(tri.reasons || []).map((r) => h("li", {}, r)))),
      proposalCard(p),
      h("div", { class: "card" }, h("h3", {}, "Next step"), h("p", {}, p ? p.next_step : ""),
        h("h3", {}, "Similar resolved tickets"),
        p && p.similar.length ? h("ul", { class: "reasons" }, ...p.similar.map((s) => h("li", {}, `${s.title} — ${s.resolution}`)))
          : h("p", { class: "empty" }, "None found (or the Context Server is not running).")),
      h("div", { class: "card" }, h("h3", {}, "Reply draft to the user"),
        h("textarea", { "data-testid": "reply" }, p ? p.reply_draft : ""))),
    h("div", { class: "card", style: "margin-top:16px" }, h("h3", {}, "Audit trail"),
      h("ol", { class: "audit", "data-testid": "audit" }, ...d.audit.map((a) =>
        h("li", {}, `${new Date(a.at * 1000).toLocaleTimeString()} · ${a.actor} · ${a.action}${a.model_version ? " · model " + a.model_version : ""}`)))));
}

function tile(label, value, id) { return h("div", { class: "tile", "data-testid": id }, h("span", {}, label), h("b", {}, value)); }

function drawDaily(days) {
  const svg = document.getElementById("chart-daily"), W = 560, H = 220, pad = 28;
  const keys = [["confirmed", "#2f6fde"], ["auto", "#1f9d62"], ["rejected", "#d4423b"], ["corrected", "#d98a00"]];
  const max = Math.max(1, ...days.map((d) => Math.max(...keys.map(([k]) => d[k]))));
  const ns = "http://www.w3.org/2000/svg";
  const el = (tag, a) => { const e = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(a)) e.setAttribute(k, v); return e; };
  const parts = [el("line", { x1: pad, y1: H - pad, x2: W - 6, y2: H - pad, stroke: "#c8cdd8" })];
  const group = (W - pad - 10) / Math.max(1, days.length), bw = Math.min(18, group / 5);
  days.forEach((d, i) => {
    keys.forEach(([k, color], j) => {
      const hgt = (d[k] / max) * (H - 2 * pad);
      parts.push(el("rect", { x: pad + i * group + 6 + j * bw, y: H - pad - hgt, width: bw - 2, height: hgt, fill: color }));
    });
    const label = el("text", { x: pad + i * group + 6, y: H - 10, "font-size": 10, fill: "#6b7385" }); label.textContent = d.day.slice(5);
    parts.push(label);
  });
  keys.forEach(([k, color], j) => {
    parts.push(el("rect", { x: pad + j * 100, y: 4, width: 10, height: 10, fill: color }));
    const t = el("text", { x: pad + j * 100 + 14, y: 13, "font-size": 11, fill: "#38415a" }); t.textContent = k; parts.push(t);
  });
  if (!days.length) { const t = el("text", { x: W / 2 - 60, y: H / 2, fill: "#6b7385" }); t.textContent = "no decisions yet"; parts.push(t); }
  svg.replaceChildren(...parts);
}

function drawRates(card) {
  const svg = document.getElementById("chart-rates"), ns = "http://www.w3.org/2000/svg";
  const el = (tag, a) => { const e = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(a)) e.setAttribute(k, v); return e; };
  const rows = [["auto-resolution", card.auto_resolution_rate, "#1f9d62"], ["override", card.override_rate, "#d98a00"], ["reopen", card.reopen_rate, "#d4423b"]];
  const parts = [];
  rows.forEach(([name, v, color], i) => {
    const y = 20 + i * 64;
    const t = el("text", { x: 0, y, "font-size": 12, fill: "#38415a" }); t.textContent = `${name} ${pct(v)}`; parts.push(t);
    parts.push(el("rect", { x: 0, y: y + 8, width: 400, height: 18, rx: 4, fill: "#eef0f5" }));
    parts.push(el("rect", { x: 0, y: y + 8, width: Math.max(0, 400 * v), height: 18, rx: 4, fill: color, "data-testid": `rate-${name}` }));
  });
  svg.replaceChildren(...parts);
}

async function loadOwner() {
  const c = await api("/scorecard");
  document.getElementById("window").textContent = `last ${c.window_days} days · ${c.tickets} tickets prepared`;
  document.getElementById("tiles").replaceChildren(
    tile("Auto-resolution rate", pct(c.auto_resolution_rate), "m-auto"),
    tile("Override rate", pct(c.override_rate), "m-override"),
    tile("Reopen rate", pct(c.reopen_rate), "m-reopen"),
    tile("Confident but wrong", c.confident_but_wrong, "m-cbw"),
    tile("Triage time (p50)", `${c.triage_time_p50_s.toFixed(2)} s`, "m-triage"),
    tile("Proposal time (p50)", `${(c.proposal_time_p50_s * 1000).toFixed(0)} ms`, "m-proposal"),
    tile("SLA at risk / breached", `${c.sla_at_risk} / ${c.sla_breached}`, "m-sla"),
    tile("Resolutions · corrections", `${c.resolutions} · ${c.corrections}`, "m-res"));
  drawDaily(c.daily);
  drawRates(c);
}

async function refresh() {
  if (state.view === "queue") await loadQueue(); else await loadOwner();
}

async function poll() {
  const live = document.getElementById("live");
  try {
    const { version } = await api("/version");
    live.className = "live";
    if (version !== state.version) { state.version = version; await refresh(); }
  } catch (e) { live.className = "live stale"; }
  setTimeout(poll, 1500);
}

document.querySelectorAll(".tab").forEach((b) => b.addEventListener("click", async () => {
  document.querySelectorAll(".tab").forEach((x) => x.classList.toggle("active", x === b));
  state.view = b.dataset.view;
  document.getElementById("view-queue").hidden = state.view !== "queue";
  document.getElementById("view-owner").hidden = state.view !== "owner";
  await refresh();
}));
document.getElementById("technician").addEventListener("change", async (e) => {
  state.technician = e.target.value; localStorage.setItem("omega.technician", state.technician);
  state.selected = ""; await refresh();
});

(async () => {
  await loadSession();
  await refresh();
  document.body.dataset.ready = "1";
  poll();
})();
