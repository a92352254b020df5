// A worker that fetches a JSON answer and parses it, for api/offThread.ts.
export interface FetchRequest { id: number; url: string }
export interface FetchAnswer { id: number; ok: boolean; status: number; body: unknown; error?: string }

self.onmessage = async (ev: MessageEvent<FetchRequest>) => {
  const { id, url } = ev.data;
  let answer: FetchAnswer;
  try {
    const response = await fetch(url);
    // A refusal's body says why ({"error"} or {"detail"}), or is not JSON at all.
    const body: unknown = response.ok ? await response.json() : await response.json().catch(() => null);
    answer = { id, ok: response.ok, status: response.status, body };
  } catch (error) {
    answer = { id, ok: false, status: 0, body: null, error: (error as Error).message };
  }
  (self as unknown as Worker).postMessage(answer);
};
