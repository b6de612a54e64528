// The console's pages. Every value from the store is untrusted: it is rendered as text (htm
// interpolation), JSON as text in <pre>, never as HTML.
import { useState } from "preact/hooks";
import { act, useFetched, useLive } from "./api.js";
import { RunGraph, Sparkline } from "./graph.js";
import { fmtDuration, fmtJson, fmtRate, fmtTime, hrefOf } from "./format.js";
import { html } from "./html.js";

function Problem({ error }) {
  return error ? html`<p class="error" role="alert">${error}</p>` : null;
}

/** A thrown Error's stack as recorded by the worker: text, collapsed until asked for. */
function Stack({ error }) {
  return typeof error?.stack === "string"
    ? html`<details class="stack" data-stack>
        <summary>Stack</summary>
        <pre>${error.stack}</pre>
      </details>`
    : null;
}

/** An action button: disabled while it runs; the outcome is shown next to it. */
function Action({ label, path, body, confirmText, onDone }) {
  const [state, setState] = useState({ busy: false, message: null, failed: false });
  const click = async () => {
    if (confirmText && !confirm(confirmText)) return;
    setState({ busy: true, message: null, failed: false });
    try {
      await act(path, body);
      setState({ busy: false, message: `${label}: done`, failed: false });
      onDone?.();
    } catch (error) {
      setState({ busy: false, message: `${label}: ${error.message}`, failed: true });
    }
  };
  return html`<span class="action"
    ><button type="button" disabled=${state.busy} onClick=${click}>${label}</button
    >${state.message && html`<span class=${state.failed ? "error" : "ok"}>${state.message}</span>`}</span
  >`;
}

/** Each WorkflowDeployment of a workflow: current of desired replicas, and how many are ready. */
function Replicas({ deployments }) {
  if (deployments === null) return "—";
  if (deployments.length === 0) return html`<span class="muted">none</span>`;
  const n = (value) => value ?? "?";
  return deployments.map(
    (d) =>
      html`<div data-deployment=${`${d.namespace}/${d.name}`}>
        ${n(d.current)} of ${n(d.desired)}, ${n(d.ready)} ready
        <span class="muted">${d.namespace}/${d.name}</span>
      </div>`,
  );
}

export function WorkflowsPage() {
  const { data, error } = useLive("workflows", {});
  return html`<h1>Workflows</h1>
    <${Problem} error=${error} />
    <${Problem} error=${data?.kube?.problem} />
    ${
      data === null
        ? html`<p class="muted">Loading…</p>`
        : data.workflows.length === 0
          ? html`<p class="muted">No workflow in this Redis yet.</p>`
          : html`<table class="workflows">
              <thead>
                <tr>
                  <th>Workflow</th>
                  <th>Ready</th>
                  <th>In flight</th>
                  <th>Delayed</th>
                  <th>Parked</th>
                  <th>Dead</th>
                  <th>Steps/s</th>
                  <th>Workers</th>
                  ${data.kube !== null && html`<th title="WorkflowDeployments running the workflow: current of desired worker replicas">Replicas</th>`}
                  <th>Backlog</th>
                </tr>
              </thead>
              <tbody>
                ${data.workflows.map(
                  (w) =>
                    html`<tr data-workflow=${w.name}>
                      <td><a href=${hrefOf("w", w.name)}>${w.name}</a></td>
                      <td class="num" data-field="ready">${w.depth.ready}</td>
                      <td class="num" data-field="inFlight">${w.depth.inFlight}</td>
                      <td class="num" data-field="delayed">${w.depth.delayed}</td>
                      <td class="num" data-field="parked" title="held by hold, or kept by a paused run">
                        ${w.parked}
                      </td>
                      <td class="num" data-field="dead">
                        <a href=${hrefOf("w", w.name, "dead")}>${w.depth.dead}</a>
                      </td>
                      <td class="num" data-field="steps">${fmtRate(w.stepsPerSecond)}</td>
                      <td class="num" data-field="workers">
                        <a href=${hrefOf("w", w.name, "workers")}>${w.workers}</a>
                      </td>
                      ${data.kube !== null && html`<td data-field="replicas"><${Replicas} deployments=${w.deployments} /></td>`}
                      <td><${Sparkline} history=${w.history} /></td>
                    </tr>`,
                )}
              </tbody>
            </table>`
    }`;
}

const toMs = (value) => (value === "" ? undefined : new Date(value).getTime());

export function RunsPage({ workflow }) {
  const [filter, setFilter] = useState({ status: "", from: "", to: "", q: "" });
  const [cursors, setCursors] = useState([]);
  const cursor = cursors[cursors.length - 1];
  const params = {
    workflow,
    status: filter.status,
    from: toMs(filter.from),
    to: toMs(filter.to),
    q: filter.q,
    cursor,
  };
  const { data, error } = useLive("runs", params);
  const submit = (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    setFilter({
      status: form.get("status"),
      from: form.get("from"),
      to: form.get("to"),
      q: form.get("q").trim(),
    });
    setCursors([]);
  };
  return html`<h1>Runs of ${workflow}</h1>
    <form class="filters" onSubmit=${submit}>
      <label
        >Status
        <select name="status">
          ${["", "queued", "running", "paused", "completed", "failed", "cancelled"].map(
            (s) => html`<option value=${s} selected=${filter.status === s}>${s || "any"}</option>`,
          )}
        </select></label
      >
      <label>From <input type="datetime-local" name="from" step="1" value=${filter.from} /></label>
      <label>To <input type="datetime-local" name="to" step="1" value=${filter.to} /></label>
      <label>Run id or idempotency key <input type="search" name="q" value=${filter.q} /></label>
      <button type="submit">Apply</button>
    </form>
    <${Problem} error=${error} />
    ${
      data === null
        ? html`<p class="muted">Loading…</p>`
        : html`<table class="runs">
              <thead>
                <tr>
                  <th>Run</th>
                  <th>Status</th>
                  <th>Created</th>
                  <th>Duration</th>
                  <th>Pending</th>
                  <th>Key</th>
                </tr>
              </thead>
              <tbody>
                ${data.runs.map(
                  (run) =>
                    html`<tr data-run=${run.runId} data-status=${run.status}>
                      <td><a href=${hrefOf("w", workflow, "run", run.runId)}>${run.runId}</a></td>
                      <td><span class="status status-${run.status}">${run.status}</span></td>
                      <td>${fmtTime(run.createdAt)}</td>
                      <td>
                        ${run.finishedAt === null ? "—" : fmtDuration(run.finishedAt - (run.startedAt ?? run.createdAt))}
                      </td>
                      <td class="num">${run.pending}</td>
                      <td>${run.idempotencyKey ?? ""}</td>
                    </tr>`,
                )}
              </tbody>
            </table>
            ${data.runs.length === 0 && html`<p class="muted">No run matches.</p>`}
            <div class="pager">
              <button type="button" disabled=${cursors.length === 0} onClick=${() => setCursors([])}>
                First page
              </button>
              <button
                type="button"
                disabled=${data.next === null}
                onClick=${() => setCursors([...cursors, data.next])}
              >
                Next page
              </button>
              <span class="muted"
                >${data.scanned} index entries
                read${data.expired > 0 ? `, ${data.expired} expired` : ""}</span
              >
            </div>`
    }`;
}

function RunActions({ workflow, run, config }) {
  if (config.readOnly) return null;
  const body = { workflow, runId: run.runId };
  const live = !["completed", "failed", "cancelled"].includes(run.status);
  return html`<div class="actions">
    ${live && html`<${Action} label="Cancel" path="/api/runs/cancel" body=${body} confirmText="Cancel this run?" />`}
    ${live && run.status !== "paused" && html`<${Action} label="Pause" path="/api/runs/pause" body=${body} />`}
    ${(run.status === "paused" || run.held > 0) && html`<${Action} label="Resume" path="/api/runs/resume" body=${body} />`}
  </div>`;
}

/** The state folded at the picked event (or now), when the console has the workflow's module. */
function ContextState({ workflow, runId, atSeq, total, events, checkpoint }) {
  const params = atSeq === null ? { workflow, runId } : { workflow, runId, seq: atSeq };
  const { data, error } = useFetched("context", params, String(total));
  if (data?.folded) {
    return html`<p class="muted">State folded from events 1 to ${data.seq} by the workflow's reducer:</p>
      <pre data-testid="context">${fmtJson(data.state)}</pre>`;
  }
  return html`<${Problem} error=${error} />
    ${
      checkpoint &&
      html`<p class="muted">Checkpoint at event ${checkpoint.seq}:</p>
        <pre>${fmtJson(checkpoint.state)}</pre>`
    }
    <p class="muted">
      The context is its event log${atSeq === null ? "" : `, up to event ${atSeq}`} (start the console with
      the module to see the folded state):
    </p>
    <pre data-testid="context">${fmtJson(events.map((e) => e.event))}</pre>`;
}

export function RunPage({ workflow, runId, config }) {
  const { data, error } = useLive("run", { workflow, runId });
  const [atSeq, setAtSeq] = useState(null);
  if (data === null)
    return html`<h1>Run ${runId}</h1>
      <${Problem} error=${error} />${!error && html`<p class="muted">Loading…</p>`}`;
  const { run } = data;
  const shownEvents = atSeq === null ? data.events : data.events.filter((e) => e.seq <= atSeq);
  return html`<h1>Run ${run.runId}</h1>
    <${Problem} error=${error} />
    <div class="summary">
      <span class="status status-${run.status}" data-run-status=${run.status}>${run.status}</span>
      <span>created ${fmtTime(run.createdAt)}</span>
      <span>started ${fmtTime(run.startedAt)}</span>
      <span>finished ${fmtTime(run.finishedAt)}</span>
      <span>pending ${run.pending}, held ${run.held}</span>
      ${run.idempotencyKey && html`<span>key ${run.idempotencyKey}</span>`}
    </div>
    <${RunActions} workflow=${workflow} run=${run} config=${config} />
    ${run.error && html`<div class="run-error error" data-testid="run-error">${run.error.code}: ${run.error.message}<${Stack} error=${run.error} /></div>`}
    <h2>Graph</h2>
    ${
      data.graph === null &&
      html`<p class="muted">
        Nodes as this run reached them; start the console with the workflow's module (--workflow path) to draw
        its edges.
      </p>`
    }
    <div class="graph-box"><${RunGraph} nodes=${data.nodes} graph=${data.graph} now=${data.now} /></div>
    <table class="nodes">
      <thead>
        <tr>
          <th>Node</th>
          <th>State</th>
          <th>Items</th>
          <th>Attempts</th>
          <th>Time</th>
          <th>Where</th>
        </tr>
      </thead>
      <tbody>
        ${data.nodes.map(
          (n) =>
            html`<tr data-node-row=${n.node}>
              <td>${n.node}</td>
              <td><span class="status state-${n.state}">${n.state}</span></td>
              <td>
                ${Object.entries(n.counts)
                  .map(([s, c]) => `${c} ${s}`)
                  .join(", ")}
              </td>
              <td class="num" data-field="attempts">${n.attempts}</td>
              <td class="num">${fmtDuration(n.durationMs)}</td>
              <td>
                ${n.leases.map((l) => `on ${l.workerId}, lease age ${fmtDuration(l.ageMs)}, until ${fmtTime(l.deadline)}`).join("; ")}
                ${n.retryDue !== null && `retry due ${fmtTime(n.retryDue)}`} ${n.lastError ?? ""}
              </td>
            </tr>`,
        )}
      </tbody>
    </table>
    <div class="columns">
      <section>
        <h2>Input</h2>
        <pre data-testid="run-input">${fmtJson(run.input)}</pre>
        <h2>Outputs</h2>
        <pre data-testid="run-outputs">${fmtJson(run.outputs)}</pre>
        <h2>Context${atSeq === null ? "" : ` at event ${atSeq}`}</h2>
        <${ContextState}
          workflow=${workflow}
          runId=${runId}
          atSeq=${atSeq}
          total=${data.eventsTotal}
          events=${shownEvents}
          checkpoint=${data.checkpoint}
        />
      </section>
      <section>
        <h2>Timeline (${data.eventsTotal} events)</h2>
        <ol class="timeline">
          ${data.events.map(
            (e) =>
              html`<li data-seq=${e.seq} class=${atSeq === e.seq ? "selected" : ""}>
                <button
                  type="button"
                  class="linkish"
                  onClick=${() => setAtSeq(atSeq === e.seq ? null : e.seq)}
                >
                  #${e.seq}
                </button>
                <b>${e.node}</b> <code>${e.itemId}</code>
                <pre>${fmtJson(e.event)}</pre>
              </li>`,
          )}
        </ol>
        <h2>Errors</h2>
        <ul class="errors">
          ${data.errors.map(
            (e) =>
              html`<li data-error-action=${e.action}>
                ${fmtTime(e.at)} <b>${e.node}</b> attempt ${e.attempt}: ${e.action}
                <pre>${e.error.code}: ${e.error.message}</pre>
                <${Stack} error=${e.error} />
              </li>`,
          )}
        </ul>
        ${
          data.malformed.length > 0 &&
          html`<h2>Unreadable entries</h2>
            <ul>
              ${data.malformed.map((m) => html`<li>${m}</li>`)}
            </ul>`
        }
      </section>
    </div>`;
}

export function DeadPage({ workflow, config }) {
  const [offset, setOffset] = useState(0);
  const { data, error } = useLive("dead", { workflow, offset, limit: 50 });
  const [open, setOpen] = useState(null);
  return html`<h1>Dead letters of ${workflow}</h1>
    <${Problem} error=${error} />
    ${
      data === null
        ? html`<p class="muted">Loading…</p>`
        : html`<p class="muted">${data.total} dead letters, newest first.</p>
            <table class="dead">
              <thead>
                <tr>
                  <th>When</th>
                  <th>Node</th>
                  <th>Run</th>
                  <th>Attempt</th>
                  <th>Reason</th>
                  <th></th>
                </tr>
              </thead>
              <tbody>
                ${data.entries.map((entry) => {
                  const l = entry.letter;
                  const id = l?.item.id ?? null;
                  return html`<tr data-item=${id ?? ""}>
                      <td>${l ? fmtTime(l.at) : "—"}</td>
                      <td>${l?.item.node ?? "—"}</td>
                      <td>
                        ${l ? html`<a href=${hrefOf("w", workflow, "run", l.item.runId)}>${l.item.runId}</a>` : "—"}
                      </td>
                      <td class="num">${l?.item.attempt ?? "—"}</td>
                      <td class="reason">
                        ${l ? `${l.error.code}: ${l.error.message}` : `unreadable: ${entry.problem}`}
                      </td>
                      <td>
                        <button
                          type="button"
                          class="linkish"
                          onClick=${() => setOpen(open === entry.raw ? null : entry.raw)}
                        >
                          raw
                        </button>
                        ${
                          !config.readOnly &&
                          id !== null &&
                          html`<${Action}
                              label="Redrive"
                              path="/api/dead/redrive"
                              body=${{ workflow, itemId: id }}
                            />
                            <${Action}
                              label="Discard"
                              path="/api/dead/discard"
                              body=${{ workflow, itemId: id }}
                              confirmText="Discard this dead letter?"
                            />`
                        }
                      </td>
                    </tr>
                    ${
                      open === entry.raw &&
                      html`<tr class="raw">
                        <td colspan="6"><pre data-testid="raw-entry">${entry.raw}</pre></td>
                      </tr>`
                    }`;
                })}
              </tbody>
            </table>
            <div class="pager">
              <button
                type="button"
                disabled=${offset === 0}
                onClick=${() => setOffset(Math.max(0, offset - 50))}
              >
                Newer
              </button>
              <button
                type="button"
                disabled=${offset + 50 >= data.total}
                onClick=${() => setOffset(offset + 50)}
              >
                Older
              </button>
            </div>`
    }`;
}

export function WorkersPage({ workflow }) {
  const { data, error } = useLive("workers", { workflow });
  return html`<h1>Workers of ${workflow}</h1>
    <${Problem} error=${error} />
    ${
      data === null
        ? html`<p class="muted">Loading…</p>`
        : data.workers.length === 0
          ? html`<p class="muted">No live worker.</p>`
          : html`<table class="workers">
              <thead>
                <tr>
                  <th>Worker</th>
                  <th>Host/pod</th>
                  <th>Status</th>
                  <th>Concurrency</th>
                  <th>In flight</th>
                  <th>Last heartbeat</th>
                  <th>Items</th>
                </tr>
              </thead>
              <tbody>
                ${data.workers.map(
                  (w) =>
                    html`<tr data-worker=${w.workerId}>
                      <td>${w.workerId}</td>
                      <td data-field="host">${w.liveness?.host ?? "—"}</td>
                      <td>
                        ${w.liveness === null ? html`<span class="status status-failed">lease holder, no liveness</span>` : html`<span class="status">${w.liveness.status}</span>`}${w.liveness?.status === "draining" && " (draining)"}
                      </td>
                      <td class="num" data-field="concurrency">${w.liveness?.concurrency ?? "—"}</td>
                      <td class="num">${w.items.length}</td>
                      <td>
                        ${w.liveness === null ? "—" : `${fmtTime(w.liveness.at)} (${fmtDuration(data.now - w.liveness.at)} ago)`}
                      </td>
                      <td>
                        ${w.items.map(
                          (i) =>
                            html`<div>
                              <a href=${hrefOf("w", workflow, "run", i.item.runId)}>${i.item.node}</a>
                              (${i.leaseWorkerId}) attempt ${i.item.attempt}, lease age
                              ${i.claimedAt === null ? "—" : fmtDuration(data.now - i.claimedAt)}, expires in
                              ${fmtDuration(i.deadline - data.now)}
                            </div>`,
                        )}
                      </td>
                    </tr>`,
                )}
              </tbody>
            </table>`
    }`;
}
