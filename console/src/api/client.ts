/**
 * The one API client: openapi-fetch over the schema generated from ../openapi.json (schema.d.ts, `npm run
 * generate`), so a path, a body or a query the API does not take fails `vue-tsc --noEmit` (make lint).
 *
 * Same origin: the API serves the console under /console/, so paths are relative and there is no CORS.
 */
import createClient, { type Middleware } from "openapi-fetch";

import type { paths } from "./schema";

export type { components, paths } from "./schema";

/** An answer that is not a 2xx, or no answer at all (`code` NETWORK). `message` is the API's, for the user. */
export class ApiError extends Error {
  constructor(
    public readonly code: string,
    message: string,
    public readonly status: number,
    /** The API's `error.details` (e.g. CONFIRMATION_REQUIRED's confirmation), when it gave any. */
    public readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** Codes that mean the session is over: the console returns to sign-in with the API's message. */
export const SESSION_OVER = new Set(["TOKEN_EXPIRED", "SESSION_REVOKED", "UNAUTHENTICATED", "ACCOUNT_DISABLED"]);

let tokenSource: () => string | null = () => null;
let onSessionOver: (error: ApiError) => void = () => {};

/** Wired by the session store at start: where the token comes from and what a dead session does. */
export function connectSession(token: () => string | null, over: (error: ApiError) => void): void {
  tokenSource = token;
  onSessionOver = over;
}

const auth: Middleware = {
  onRequest({ request }) {
    const token = tokenSource();
    if (token && !request.headers.has("Authorization")) request.headers.set("Authorization", `Bearer ${token}`);
    return request;
  },
};

export const api = createClient<paths>({ baseUrl: "" });
api.use(auth);

interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/**
 * The body of a 2xx, or an ApiError with the API's code and message. A network failure (no answer) is an
 * ApiError too, so every caller shows a message and keeps its form filled.
 */
export async function call<T>(request: Promise<Answer<T>>, networkMessage = "网络异常，请重试"): Promise<T> {
  let answer: Answer<T>;
  try {
    answer = await request;
  } catch {
    throw new ApiError("NETWORK", networkMessage, 0);
  }
  if (answer.response.ok) return answer.data as T;
  const body = answer.error as
    | { error?: { code?: string; message?: string; details?: Record<string, unknown> | null } }
    | undefined;
  const error = new ApiError(
    body?.error?.code ?? `HTTP_${answer.response.status}`,
    body?.error?.message ?? answer.response.statusText ?? "error",
    answer.response.status,
    body?.error?.details ?? {},
  );
  const hadToken = answer.response.url && tokenSource() !== null;
  if (hadToken && (answer.response.status === 401 || error.code === "ACCOUNT_DISABLED") && SESSION_OVER.has(error.code)) {
    onSessionOver(error);
  }
  throw error;
}
