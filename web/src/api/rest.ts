// The REST API (`/api/v1/...`) in plain fetch, for the admin page: the
// access token of the session store goes along, the `{code, message, data}`
// envelope is unwrapped, and a refusal becomes a RestError (api/errors.ts)
// with the business code, the HTTP status and the server's message. A call
// refused for its token (401 with a token code) refreshes the session once,
// through the store's shared refresh, and is sent again.
import { RestError } from "./errors";
import { useSession } from "../stores/session";

/** Query parameters; empty, null and undefined values are left out. */
export type Query = Record<string, string | number | boolean | null | undefined>;

type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** The token codes a refresh can cure: missing, invalid, expired, revoked. */
const TOKEN_CODES = new Set([40004, 40005, 40006, 40007]);

interface Envelope {
  code?: number;
  message?: string;
  data?: unknown;
  details?: Record<string, unknown>;
}

let counter = 0;

function urlOf(path: string, query?: Query): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== "") {
      params.append(key, String(value));
    }
  }
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

interface Answer {
  status: number;
  envelope: Envelope | null;
  retryAfter?: number;
}

async function attempt(method: Method, url: string, token: string | undefined, body: unknown): Promise<Answer> {
  counter += 1;
  const headers: Record<string, string> = {
    accept: "application/json",
    "x-request-id": `web-${Date.now().toString(36)}-r${counter}`,
  };
  if (token) {
    headers.authorization = `Bearer ${token}`;
  }
  if (body !== undefined) {
    headers["content-type"] = "application/json";
  }
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch {
    return { status: 0, envelope: null };
  }
  let envelope: Envelope | null = null;
  try {
    const parsed: unknown = await res.json();
    if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) {
      envelope = parsed as Envelope;
    }
  } catch {
    envelope = null;
  }
  const after = Number(res.headers.get("retry-after") ?? "");
  return { status: res.status, envelope, retryAfter: Number.isFinite(after) && after > 0 ? after : undefined };
}

function refusal(answer: Answer): RestError {
  const env = answer.envelope;
  const field = env?.details?.field;
  const message =
    env?.message || (answer.status ? `HTTP ${answer.status}` : "the server could not be reached");
  return new RestError(
    message,
    Number(env?.code ?? 0),
    answer.status,
    typeof field === "string" && field ? field : undefined,
    answer.retryAfter,
  );
}

async function call<T>(method: Method, path: string, query: Query | undefined, body: unknown): Promise<T> {
  const session = useSession();
  const url = urlOf(path, query);
  const token = session.saved?.accessToken;
  let answer = await attempt(method, url, token, body);
  if (answer.status === 401 && token && TOKEN_CODES.has(Number(answer.envelope?.code ?? 0))) {
    if (await session.refresh()) {
      answer = await attempt(method, url, session.saved?.accessToken, body);
    }
  }
  const env = answer.envelope;
  if (answer.status >= 200 && answer.status < 300 && env && (env.code ?? 0) === 0) {
    // An empty answer (DeleteUserTask) may come without data.
    return (env.data ?? {}) as T;
  }
  throw refusal(answer);
}

/** GET `path` with `query`; resolves to the envelope's data. */
export function restGet<T>(path: string, query?: Query): Promise<T> {
  return call<T>("GET", path, query, undefined);
}

/** Sends `body` as JSON with `method`; `query` for what the route reads from the URL. */
export function restSend<T>(method: Exclude<Method, "GET">, path: string, body?: unknown, query?: Query): Promise<T> {
  return call<T>(method, path, query, body);
}
