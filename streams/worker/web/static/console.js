// The meshstream console: preact + htm (vendored from npm by `make install`, served by the worker).
// Pages are hash routes; each page polls ONE endpoint (the overview polls /console/summary), shows
// when it last updated and says so when a refresh fails.
import { h, render } from "preact";
import { useEffect, useState, useCallback } from "preact/hooks";
import htm from "htm";

const html = htm.bind(h);
const REFRESH_MS = 3000;

// -- helpers ---------------------------------------------------------------------------------
const fmtTime = iso => iso ? new Date(iso).toLocaleString(undefined, {hour12: false}) : "–";
const fmtSecs = s => s == null ? "–" : s < 1 ? `${Math.round(s * 1000)} ms` : s < 120 ? `${s.toFixed(1)} s`
  : s < 7200 ? `${Math.floor(Math.round(s) / 60)} min ${Math.round(s) % 60} s` : `${(s / 3600).toFixed(1)} h`;
const fmtAge = s => s == null ? "" : `${fmtSecs(s)} ago`;
const pct = x => x == null ? "–" : `${(100 * x).toFixed(1)} %`;
const short = id => id ? id.slice(0, 8) : "";
const Pill = ({state}) => html`<span class="pill ${state}">${state}</span>`;

function parseRoute() {
  const [path, query] = (location.hash.replace(/^#/, "") || "/").split("?");
  const parts = path.split("/").filter(Boolean);
  return {page: parts[0] || "overview", id: parts[1] ? decodeURIComponent(parts[1]) : null,
          query: new URLSearchParams(query || "")};
}

function usePoll(url, report, every = REFRESH_MS) {
  const [data, setData] = useState(null);
  useEffect(() => {
    if (!url) return;
    let stop = false, timer = null;
    const tick = async () => {
      try {
        const r = await fetch(url, {headers: {Accept: "application/json"}});
        const body = await r.json();
        if (!r.ok && r.status !== 404) throw new Error(`${url}: HTTP ${r.status}: ${body.message || ""}`);
        if (!stop) { setData(r.status === 404 ? {notFound: body.message} : body); report({at: new Date(), error: null}); }
      } catch (e) {
        if (!stop) report(prev => ({at: prev.at, error: `refresh failed: ${e.message}`}));
      }
      if (!stop && every) timer = setTimeout(tick, every);
    };
    tick();
    return () => { stop = true; clearTimeout(timer); };
  }, [url]);
  return data;
}

// -- header ----------------------------------------------------------------------------------
function Header({route, status}) {
  const link = (href, label, page) => html`<a href=${href} class=${route.page === page ? "on" : ""}>${label}</a>`;
  return html`<header>
    <a class="brand" href="#/">meshstream</a>
    ${link("#/", "Overview", "overview")} ${link("#/workflows", "Workflows", "workflows")}
    <span class="status ${status.error ? "error" : ""}" id="refresh-status">
      ${status.error ? status.error + (status.at ? ` (last good ${status.at.toLocaleTimeString(undefined, {hour12: false})})` : "")
        : status.at ? `updated ${status.at.toLocaleTimeString(undefined, {hour12: false})}` : "loading…"}
    </span></header>`;
}

// -- overview --------------------------------------------------------------------------------
function Cards({c}) {
  const card = (n, label, cls, id) => html`<div class="card ${cls}" id=${id}><div class="n">${n}</div><div class="l">${label}</div></div>`;
  return html`<div class="cards">
    ${card(c.running, "runs in progress", c.running ? "run" : "", "card-running")}
    ${card(c.failed, "runs failed", c.failed ? "bad" : "ok", "card-failed")}
    ${card(c.dead_letters, "dead letters", c.dead_letters ? "bad" : "ok", "card-dead-letters")}
    ${card(c.lag, "consumer lag (records)", c.lag > 100 ? "warn" : "ok", "card-lag")}
    ${card(`${c.workers_ready}/${c.workers}`, "workers ready", c.workers_ready < c.workers || !c.workers ? "bad" : "ok", "card-workers")}
  </div>`;
}

function Stages({rows}) {
  return html`<table id="stages"><thead><tr><th>stage</th><th class="num">in</th><th class="num">completed</th>
    <th class="num">failed</th><th class="num">rate /s (1 min)</th><th class="num">p50</th><th class="num">p95</th>
    <th class="num">failure rate</th><th class="num">dead letters</th></tr></thead><tbody>
    ${rows.map(r => html`<tr><td>${r.stage}</td><td class="num">${r.in}</td><td class="num">${r.completed}</td>
      <td class="num">${r.failed}</td><td class="num">${r.rate_per_second.toFixed(2)}</td>
      <td class="num">${fmtSecs(r.p50_seconds)}</td><td class="num">${fmtSecs(r.p95_seconds)}</td>
      <td class="num ${r.failure_rate ? "reason" : ""}">${pct(r.failure_rate)}</td><td class="num">${r.dead_letters}</td></tr>`)}
  </tbody></table>`;
}

function Progress({scan}) {
  const {done, total} = scan.progress, failed = scan.runs_by_state.failed || 0;
  const w = n => total ? `${100 * n / total}%` : "0%";
  return html`<div class="bar" title="${done}/${total} done, ${failed} failed"><div class="done" style=${{width: w(done - failed)}}></div>
    <div class="fail" style=${{width: w(failed)}}></div></div><span class="mute">${done}/${total}${scan.models_found === 0 ? " (no models found)" : ""}</span>`;
}

function ScanList({page, state}) {
  const states = ["", "discovering", "running", "finished", "failed"];
  const href = (s, offset) => `#/?${new URLSearchParams({...(s ? {state: s} : {}), ...(offset ? {offset} : {})})}`;
  return html`<div>
    <div class="filters">state: ${states.map(s => html`<a href=${href(s, 0)} class=${(state || "") === s ? "on" : ""}>${s || "all"}</a>`)}
      <span class="mute">${page.total} scan(s)</span></div>
    <table id="scans"><thead><tr><th>scan</th><th>source</th><th>workflow</th><th>status</th><th>progress</th>
      <th>requested</th><th>finished</th><th class="num">duration</th></tr></thead><tbody>
      ${page.scans.map(s => html`<tr class="scan-row">
        <td><a class="scan-link mono" href="#/scan/${s.scan_id}">${short(s.scan_id)}</a></td>
        <td class="mono">${s.source || "–"}</td><td>${s.workflow || "–"}</td>
        <td><${Pill} state=${s.status}/>${s.error ? html` <span class="reason">${s.error.code}</span>` : ""}</td>
        <td><${Progress} scan=${s}/></td><td title=${fmtAge(s.age_seconds)}>${fmtTime(s.requested_at)}</td>
        <td>${fmtTime(s.finished_at)}</td><td class="num">${fmtSecs(s.duration_seconds)}</td></tr>`)}
    </tbody></table>
    <div class="filters">
      ${page.offset > 0 ? html`<a href=${href(state, Math.max(0, page.offset - page.limit))}>← newer</a>` : ""}
      <span class="mute">${page.total ? `${page.offset + 1}–${Math.min(page.total, page.offset + page.limit)} of ${page.total}` : "no scans"}</span>
      ${page.offset + page.limit < page.total ? html`<a href=${href(state, page.offset + page.limit)}>older →</a>` : ""}
    </div></div>`;
}

function DeadLetters({rows}) {
  const [token, setToken] = useState(sessionStorage.getItem("meshstream-token") || "");
  const [outcome, setOutcome] = useState({});
  const replay = useCallback(async d => {
    setOutcome(o => ({...o, [d.id]: {busy: true}}));
    try {
      const r = await fetch(`/dead-letters/${d.partition}/${d.offset}/replay`, {method: "POST", headers: {Authorization: `Bearer ${token}`}});
      const body = await r.json().catch(() => ({}));
      setOutcome(o => ({...o, [d.id]: r.ok ? {done: `replayed to ${body.topic || d.original_topic}`} : {error: `refused (${r.status}): ${body.message || ""}`}}));
    } catch (e) { setOutcome(o => ({...o, [d.id]: {error: e.message}})); }
  }, [token]);
  return html`<div>
    <div class="filters"><label>API token for replays <input type="password" id="token" value=${token}
      onInput=${e => { setToken(e.target.value); sessionStorage.setItem("meshstream-token", e.target.value); }}/></label></div>
    <table id="dead-letters"><thead><tr><th>dead letter</th><th>time</th><th>stage</th><th>code</th><th>reason</th><th>scan</th><th>record</th><th>replay</th></tr></thead><tbody>
    ${rows.map(d => {
      const o = outcome[d.id] || {};
      const replayed = d.replayed_as || o.done;
      return html`<tr class="dead-letter" data-id=${d.id}><td class="mono">${d.id}</td><td>${fmtTime(d.at)}</td><td>${d.stage}</td><td class="reason">${d.code}</td>
        <td>${d.message}</td><td>${d.scan_id ? html`<a href="#/scan/${d.scan_id}" class="mono">${short(d.scan_id)}</a>` : "–"}</td>
        <td class="mono">${d.original_topic} [${d.original_partition}] @ ${d.original_offset}${d.replay_of ? html`<br/><span class="mute">a replay of dead letter ${d.replay_of}</span>` : ""}</td>
        <td class="replay-cell">${d.replayed_as ? html`<span class="replayed">replayed → dead letter ${d.replayed_as}</span>`
          : o.done ? html`<span class="replayed">${o.done}</span>`
          : html`<button class="replay" disabled=${o.busy || replayed} onClick=${() => replay(d)}>replay</button>`}
          ${o.error ? html`<div class="reason replay-error">${o.error}</div>` : ""}</td></tr>`;
    })}</tbody></table></div>`;
}

function Overview({route, report}) {
  const state = route.query.get("state") || "", offset = route.query.get("offset") || 0;
  const data = usePoll(`/console/summary?${new URLSearchParams({...(state ? {state} : {}), offset})}`, report);
  if (!data) return html`<p>Loading…</p>`;
  return html`<div>
    <${Cards} c=${data.cards}/>
    ${data.cards.workers_unreachable.length ? html`<div class="banner">unreachable workers: ${data.cards.workers_unreachable.join("; ")}</div>` : ""}
    <h2>Stages <span class="mute">(all workers; p50/p95 from the duration histograms since each worker started)</span></h2>
    <${Stages} rows=${data.stages}/>
    <h2>Scans</h2><${ScanList} page=${data.scans} state=${state}/>
    <h2>Recent failures</h2>
    <table id="failures"><thead><tr><th>time</th><th>model</th><th>reason</th><th>run</th></tr></thead><tbody>
      ${data.failures.map(f => html`<tr><td>${fmtTime(f.at)}</td><td><a href="#/model/${f.model_id}">${f.name}</a></td>
        <td class="reason">${f.reason}</td><td><a class="mono" href="#/run/${f.run_id}">${short(f.run_id)}</a></td></tr>`)}
    </tbody></table>
    <h2>Dead letters <span class="mute">(${data.cards.dead_letters} in all; the newest 20)</span></h2>
    <${DeadLetters} rows=${data.dead_letters}/>
  </div>`;
}

// -- scan, run, model ------------------------------------------------------------------------
function ScanPage({id, report}) {
  const scan = usePoll(`/scans/${encodeURIComponent(id)}`, report);
  const [state, setState] = useState("");
  const [shown, setShown] = useState(100);
  if (!scan) return html`<p>Loading…</p>`;
  if (scan.notFound) return html`<div class="banner">${scan.notFound}</div>`;
  const models = scan.models.filter(m => !state || m.state === state);
  return html`<div>
    <h1>Scan <span class="mono">${scan.scan_id}</span> <${Pill} state=${scan.status}/></h1>
    ${scan.error ? html`<div class="banner" id="scan-error">refused by discovery: ${scan.error.code}: ${scan.error.message}</div>` : ""}
    <dl><dt>source</dt><dd class="mono">${scan.source}</dd><dt>workflow</dt><dd>${scan.workflow}</dd>
      <dt>requested</dt><dd>${fmtTime(scan.requested_at)} <span class="mute">(${fmtAge(scan.age_seconds)})</span></dd>
      <dt>finished</dt><dd>${fmtTime(scan.finished_at)}</dd><dt>duration</dt><dd>${fmtSecs(scan.duration_seconds)}</dd>
      <dt>models</dt><dd>${scan.models_found == null ? `${scan.models_discovered} so far (discovery not finished)` : scan.models_found}</dd>
      <dt>progress</dt><dd><${Progress} scan=${scan}/></dd></dl>
    <h2>Models</h2>
    <div class="filters">show: ${["", "running", "completed", "failed"].map(s => html`<a href="javascript:void 0" class=${state === s ? "on" : ""}
      onClick=${() => setState(s)}>${s || "all"} (${s ? scan.runs_by_state[s] || 0 : scan.models.length})</a>`)}</div>
    <table id="models"><thead><tr><th>model</th><th>state</th><th>run</th><th>finished</th><th>reason</th></tr></thead><tbody>
      ${models.slice(0, shown).map(m => html`<tr><td><a class="model-link" href="#/model/${m.model_id}">${m.name || m.model_id}</a></td>
        <td><${Pill} state=${m.state}/></td><td><a class="run-link mono" href="#/run/${m.run_id}">${short(m.run_id)}</a></td>
        <td>${fmtTime(m.finished_at)}</td><td class="reason">${m.reason || ""}</td></tr>`)}
    </tbody></table>
    ${models.length > shown ? html`<button onClick=${() => setShown(shown + 200)}>show more (${models.length - shown} left)</button>` : ""}
  </div>`;
}

function Timeline({run}) {
  const steps = Object.entries(run.steps || {});
  const t0 = Date.parse(run.started_at), ends = steps.map(([, s]) => Date.parse(s.finished_at || "") || 0);
  const t1 = Math.max(Date.parse(run.finished_at || "") || Date.now(), ...ends), span = Math.max(1, t1 - t0);
  const bar = s => {
    if (!s.requested_at) return html`<div class="timeline"></div>`;
    const a = Date.parse(s.requested_at) - t0, b = (Date.parse(s.finished_at || "") || t1) - t0;
    return html`<div class="timeline"><span class=${s.status} style=${{left: `${100 * a / span}%`, width: `${Math.max(0.5, 100 * (b - a) / span)}%`}}></span></div>`;
  };
  return html`<table id="steps"><thead><tr><th>step</th><th>status</th><th class="num">attempts</th><th>requested</th>
    <th class="num">duration</th><th>timeline</th><th>error</th></tr></thead><tbody>
    ${steps.map(([stage, s]) => html`<tr class="step" data-stage=${stage}><td>${stage}</td><td><${Pill} state=${s.status}/></td>
      <td class="num">${s.attempts}</td><td>${fmtTime(s.requested_at)}</td><td class="num">${fmtSecs(s.duration_seconds)}</td>
      <td style="width:30%">${bar(s)}</td>
      <td class="reason" title=${s.error ? s.error.message : ""}>${s.error ? `${s.error.code}: ${s.reason || s.error.message}` : ""}</td></tr>`)}
  </tbody></table>`;
}

function RunPage({id, report}) {
  const data = usePoll(`/runs/${encodeURIComponent(id)}`, report);
  if (!data) return html`<p>Loading…</p>`;
  if (data.notFound) return html`<div class="banner">${data.notFound}</div>`;
  const run = data.run;
  return html`<div>
    <h1>Run <span class="mono">${run.run_id}</span> <${Pill} state=${run.terminal || "running"}/></h1>
    <dl><dt>model</dt><dd><a class="model-link" href="#/model/${run.model_id}">${run.name}</a></dd>
      <dt>scan</dt><dd><a class="mono" href="#/scan/${run.scan_id}">${run.scan_id}</a></dd><dt>workflow</dt><dd>${run.workflow}</dd>
      <dt>started</dt><dd>${fmtTime(run.started_at)}</dd><dt>finished</dt><dd>${fmtTime(run.finished_at)}</dd>
      <dt>duration</dt><dd>${fmtSecs(run.duration_seconds)}</dd><dt>run owned by</dt><dd class="mono">${data.answered_by}</dd>
      ${run.error ? html`<dt>reason</dt><dd class="reason" title=${run.error.message}>${run.reason || run.error.message}</dd>` : ""}</dl>
    <h2>Steps</h2><${Timeline} run=${run}/>
  </div>`;
}

function Metadata({meta}) {
  if (!meta) return "";
  const rows = Object.entries(meta).filter(([, v]) => v == null || typeof v !== "object");
  const nested = Object.entries(meta).filter(([, v]) => v != null && typeof v === "object");
  return html`<dl id="metadata">${rows.map(([k, v]) => html`<dt>${k.replace(/_/g, " ")}</dt><dd>${typeof v === "number" ? +v.toFixed(3) : String(v)}</dd>`)}
    ${nested.map(([k, v]) => html`<dt>${k.replace(/_/g, " ")}</dt><dd class="mono">${Array.isArray(v) ? v.map(x => typeof x === "number" ? +x.toFixed(2) : JSON.stringify(x)).join(" × ") : JSON.stringify(v)}</dd>`)}</dl>`;
}

function ModelPage({id, report}) {
  const m = usePoll(`/models/${encodeURIComponent(id)}`, report, 0);
  if (!m) return html`<p>Loading…</p>`;
  if (m.notFound) return html`<div class="banner">${m.notFound}</div>`;
  const latest = m.latest || {};
  const images = (m.links || []).filter(l => l.kind === "image"), docs = (m.links || []).filter(l => l.kind !== "image");
  const pa = m.print_analysis;
  return html`<div>
    <h1>${m.name} <span id="model-state"><${Pill} state=${latest.state || "running"}/></span></h1>
    <dl><dt>source</dt><dd class="mono">${m.source || "–"}</dd><dt>model id</dt><dd class="mono">${m.model_id}</dd>
      <dt>finished</dt><dd>${fmtTime(latest.at)}</dd>
      <dt>runs</dt><dd>${m.runs.map(r => html`<a class="run-link mono" href="#/run/${r}">${short(r)}</a> `)}</dd>
      ${m.reason ? html`<dt>reason</dt><dd class="reason">${m.reason}</dd>` : ""}</dl>
    ${images.length ? html`<h2>Images</h2><div class="images" id="images">${images.map(l => html`<figure>
      <img src=${l.url} alt=${l.label} loading="lazy"/><figcaption>${l.label}</figcaption></figure>`)}</div>` : ""}
    ${latest.metadata ? html`<h2>Technical metadata</h2><${Metadata} meta=${latest.metadata}/>` : ""}
    ${pa ? html`<h2>Print analysis</h2><div id="print-analysis"><dl><dt>printability</dt><dd>${pa.printability_score ?? "–"}</dd>
      ${(pa.reasons || []).map(r => html`<dt>reason</dt><dd>${typeof r === "string" ? r : JSON.stringify(r)}</dd>`)}</dl></div>` : ""}
    ${latest.print_estimate ? html`<h2>Print estimate</h2><dl id="print-estimate">
      <dt>printer</dt><dd>${latest.print_estimate.printer}${latest.print_estimate.fits_printer ? "" : html` <span class="reason">(does not fit)</span>`}</dd>
      <dt>print time</dt><dd>${fmtSecs(latest.print_estimate.print_time_seconds)}</dd><dt>layers</dt><dd>${latest.print_estimate.layers}</dd>
      <dt>filament</dt><dd>${latest.print_estimate.filament_grams.toFixed(1)} g, ${(latest.print_estimate.filament_length_mm / 1000).toFixed(2)} m</dd></dl>` : ""}
    ${latest.near_duplicates ? html`<h2>Near duplicates</h2>${latest.near_duplicates.length ? html`<table id="near-duplicates">
      <thead><tr><th>model</th><th class="num">similarity</th><th>owner</th></tr></thead><tbody>
      ${latest.near_duplicates.map(d => html`<tr class=${d.other_owner ? "other-owner" : ""}><td><a class="mono" href="#/model/${d.model_id}">${d.name || short(d.model_id)}</a></td>
        <td class="num">${d.similarity.toFixed(3)}</td><td class=${d.other_owner ? "reason" : ""}>${d.owner_id || "–"}${d.other_owner ? " (another owner)" : ""}</td></tr>`)}
      </tbody></table>` : html`<p class="mute" id="near-duplicates">none found among the models fingerprinted so far</p>`}` : ""}
    ${docs.length ? html`<h2>Documents</h2><ul>${docs.map(l => html`<li><a href=${l.url}>${l.name}</a></li>`)}</ul>` : ""}
  </div>`;
}

// -- workflows -------------------------------------------------------------------------------
let mermaidLoading = null;
function loadMermaid() {
  mermaidLoading = mermaidLoading || new Promise((ok, fail) => {
    const s = document.createElement("script");
    s.src = "/console/vendor/mermaid.min.js"; s.onload = () => { window.mermaid.initialize({startOnLoad: false}); ok(window.mermaid); };
    s.onerror = () => fail(new Error("mermaid did not load (run `make install`)")); document.head.appendChild(s);
  });
  return mermaidLoading;
}

function Graph({name, source}) {
  const [svg, setSvg] = useState(null), [err, setErr] = useState(null);
  useEffect(() => { loadMermaid().then(m => m.render(`g-${name}`, source)).then(r => setSvg(r.svg)).catch(e => setErr(e.message)); }, [source]);
  return err ? html`<div class="banner">${err}</div><pre>${source}</pre>`
    : html`<div class="graph workflow-graph" data-workflow=${name} dangerouslySetInnerHTML=${{__html: svg || "drawing…"}}></div>`;
}

function Workflows({report}) {
  const data = usePoll("/workflows", report, 0);
  if (!data) return html`<p>Loading…</p>`;
  return html`<div><h1>Workflows <span class="mute">(default: ${data.default})</span></h1>
    ${data.workflows.map(w => html`<h2>${w.name} <${Pill} state=${w.status}/></h2>
      <p class="mute">${w.description}</p><${Graph} name=${w.name} source=${w.mermaid}/>`)}</div>`;
}

// -- app -------------------------------------------------------------------------------------
function App() {
  const [route, setRoute] = useState(parseRoute());
  const [status, setStatus] = useState({at: null, error: null});
  useEffect(() => { const f = () => setRoute(parseRoute()); addEventListener("hashchange", f); return () => removeEventListener("hashchange", f); }, []);
  const report = useCallback(s => setStatus(typeof s === "function" ? s : () => s), []);
  const pages = {overview: Overview, scan: ScanPage, run: RunPage, model: ModelPage, workflows: Workflows};
  const Page = pages[route.page] || Overview;
  return html`<${Header} route=${route} status=${status}/><main><${Page} key=${location.hash} route=${route} id=${route.id} report=${report}/></main>`;
}

const root = document.getElementById("app");
root.textContent = "";  // the no-JavaScript notice
render(html`<${App}/>`, root);
