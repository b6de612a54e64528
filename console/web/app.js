// The console's shell: hash routing, the session (token prompt when the server asks for one),
// live views over server-sent events, and actions. Pages are in pages.js.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { html } from "./html.js";
import { DeadPage, RunPage, RunsPage, WorkersPage, WorkflowsPage } from "./pages.js";
import { hrefOf } from "./format.js";

/** The current route from `location.hash`: `#/w/<workflow>/<page>/<id>`. */
function route() {
  const parts = location.hash
    .replace(/^#\/?/, "")
    .split("/")
    .filter((p) => p !== "")
    .map((p) => decodeURIComponent(p));
  if (parts[0] !== "w" || parts[1] === undefined) return { page: "workflows" };
  const workflow = parts[1];
  if (parts[2] === "run" && parts[3] !== undefined) return { page: "run", workflow, runId: parts[3] };
  if (parts[2] === "dead") return { page: "dead", workflow };
  if (parts[2] === "workers") return { page: "workers", workflow };
  return { page: "runs", workflow };
}

function Login({ onDone }) {
  const [error, setError] = useState(null);
  const submit = async (event) => {
    event.preventDefault();
    const token = new FormData(event.target).get("token");
    const response = await fetch("/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token }),
    });
    if (response.ok) onDone();
    else setError("That token is not accepted.");
  };
  return html`<form class="login" onSubmit=${submit}>
    <h2>Auth token</h2>
    <p>This console needs its token (<code>--auth-token</code> / <code>FLOXIDE_UI_AUTH_TOKEN</code>).</p>
    <input name="token" type="password" autocomplete="current-password" required />
    <button type="submit">Sign in</button>
    ${error && html`<p class="error">${error}</p>`}
  </form>`;
}

function Nav({ current, config }) {
  const wf = current.workflow;
  const link = (page, label, href) =>
    html`<a class=${current.page === page ? "active" : ""} href=${href}>${label}</a>`;
  return html`<nav>
    <a class="brand" href="#/">floxide</a>
    ${link("workflows", "Workflows", "#/")}
    ${
      wf &&
      html`<span class="crumb">${wf}</span> ${link("runs", "Runs", hrefOf("w", wf))}
        ${link("dead", "Dead letters", hrefOf("w", wf, "dead"))}
        ${link("workers", "Workers", hrefOf("w", wf, "workers"))}`
    }
    ${config.readOnly && html`<span class="badge">read-only</span>`}
  </nav>`;
}

function App() {
  const [current, setCurrent] = useState(route());
  const [config, setConfig] = useState(null);
  const [needLogin, setNeedLogin] = useState(false);
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    const onHash = () => setCurrent(route());
    addEventListener("hashchange", onHash);
    return () => removeEventListener("hashchange", onHash);
  }, []);
  useEffect(() => {
    fetch("/api/config").then(async (response) => {
      if (response.status === 401) setNeedLogin(true);
      else {
        setNeedLogin(false);
        setConfig(await response.json());
      }
    });
  }, [generation]);
  if (needLogin) return html`<${Login} onDone=${() => setGeneration(generation + 1)} />`;
  if (config === null) return html`<p class="muted">Loading…</p>`;
  const props = { ...current, config };
  const Page = {
    workflows: WorkflowsPage,
    runs: RunsPage,
    run: RunPage,
    dead: DeadPage,
    workers: WorkersPage,
  }[current.page];
  return html`<${Nav} current=${current} config=${config} />
    <main data-page=${current.page}><${Page} ...${props} /></main>`;
}

render(html`<${App} />`, document.getElementById("app"));
