// The page's side of the API: live views (server-sent events) and actions.
import { useEffect, useState } from "preact/hooks";

const query = (params) =>
  new URLSearchParams(
    Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ""),
  ).toString();

/** A view of the API, kept current by its live stream (one read per second on the server at most). */
export function useLive(view, params) {
  const key = `${view}?${query(params)}`;
  const [state, setState] = useState({ key, data: null, error: null });
  useEffect(() => {
    setState({ key, data: null, error: null });
    const source = new EventSource(`/api/${view}/live?${query(params)}`);
    source.addEventListener("view", (event) => setState({ key, data: JSON.parse(event.data), error: null }));
    source.addEventListener("failure", (event) =>
      setState((old) => ({
        key,
        data: old.key === key ? old.data : null,
        error: JSON.parse(event.data).error,
      })),
    );
    return () => source.close();
  }, [key]);
  return state.key === key ? state : { key, data: null, error: null };
}

/** Calls an action; resolves to the reply body, or throws an Error with the server's message. */
export async function act(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json", "x-floxide-console": "1" },
    body: JSON.stringify(body),
  });
  const reply = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) throw new Error(reply.error ?? response.statusText);
  return reply;
}

/** A view read once (again when `key` changes): for reads too costly to repeat every second. */
export function useFetched(view, params, key = "") {
  const url = `/api/${view}?${query(params)}`;
  const id = `${url}#${key}`;
  const [state, setState] = useState({ id: null, data: null, error: null });
  useEffect(() => {
    let current = true;
    fetch(url).then(async (response) => {
      const body = await response.json().catch(() => ({ error: response.statusText }));
      if (current)
        setState(response.ok ? { id, data: body, error: null } : { id, data: null, error: body.error });
    });
    return () => {
      current = false;
    };
  }, [id]);
  return state.id === id ? state : { id, data: null, error: null };
}
