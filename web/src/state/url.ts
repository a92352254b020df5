// What the URL keeps, so that a view can be shared: selection, search, filters, layout.
export type LayoutPreset = "force" | "namespace" | "kind";
/** Live: the running system; Code: the code (Code Mode); Both: code above what runs it. */
export type Mode = "live" | "code" | "both";

export interface Filters {
  q: string;
  kinds: string[];
  namespaces: string[];
  sources: string[];
  health: string[];
  mode: Mode;
}

export interface UrlState extends Filters {
  selected: string | null;
  layout: LayoutPreset | null;
}

export const EMPTY_FILTERS: Filters = { q: "", kinds: [], namespaces: [], sources: [], health: [], mode: "live" };

const LIST_KEYS = { kinds: "kind", namespaces: "ns", sources: "source", health: "health" } as const;

function list(params: URLSearchParams, key: string): string[] {
  const value = params.get(key);
  return value ? value.split(",").filter(Boolean) : [];
}

export function parseUrl(search: string): UrlState {
  const params = new URLSearchParams(search);
  const layout = params.get("layout");
  const mode = params.get("mode");
  return {
    mode: mode === "code" || mode === "both" ? mode : "live",
    selected: params.get("sel"),
    q: params.get("q") ?? "",
    kinds: list(params, LIST_KEYS.kinds),
    namespaces: list(params, LIST_KEYS.namespaces),
    sources: list(params, LIST_KEYS.sources),
    health: list(params, LIST_KEYS.health),
    layout: layout === "force" || layout === "namespace" || layout === "kind" ? layout : null,
  };
}

/** The query string for `state`, keeping parameters that are not ours (e.g. token). */
export function toSearch(state: UrlState, current = ""): string {
  const params = new URLSearchParams(current);
  const set = (key: string, value: string | null) => (value ? params.set(key, value) : params.delete(key));
  set("sel", state.selected);
  set("q", state.q || null);
  for (const [field, key] of Object.entries(LIST_KEYS)) {
    set(key, (state[field as keyof typeof LIST_KEYS] as string[]).join(",") || null);
  }
  set("layout", state.layout);
  set("mode", state.mode === "live" ? null : state.mode);
  const text = params.toString();
  return text ? `?${text}` : "";
}
