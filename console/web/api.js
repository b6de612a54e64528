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
