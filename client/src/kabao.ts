/**
 * A typed kabao client for the mini program, over `wx.request`.
 *
 * Paths, parameters, bodies and answers are typed from `api.d.ts`, which openapi-typescript generates from the
 * server's openapi.json (`npm run generate`), so a call the server does not take does not compile.
 *
 * - the member's token is sent as `Authorization: Bearer` once `setToken` has it;
 * - operations that move value take an `Idempotency-Key`: the client makes one per call (or takes yours) and
 *   keeps it for that call's retries, so a retried top-up or claim happens once;
 * - an error answer rejects with a `KabaoError` carrying the server's `code` (see the operation's x-error-codes).
 */
import type { paths } from "./api.js";
import { KEYED } from "./keyed.js";

/** The part of WeChat's `wx.request` this client uses (the mini program passes the global `wx`). */
export interface WxRequestOptions {
  url: string;
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  data?: unknown;
  header?: Record<string, string>;
  dataType?: "json";
  timeout?: number;
  success: (res: { statusCode: number; data: unknown; header: Record<string, string> }) => void;
  fail: (err: { errMsg: string }) => void;
}

export interface Wx {
  request(options: WxRequestOptions): unknown;
}

type Method = "get" | "post" | "put" | "patch" | "delete";
type Operation<P extends keyof paths, M extends Method> = NonNullable<paths[P][M]>;
/** Paths that take method M. */
export type PathsFor<M extends Method> = {
  [P in keyof paths]: paths[P][M] extends undefined ? never : P;
}[keyof paths];

type JsonOf<T> = T extends { content: { "application/json": infer B } } ? B : undefined;
type Responses<O> = O extends { responses: infer R } ? R : never;
/** The body of the operation's success answer (200 or 201; undefined for a 204). */
export type Answer<P extends keyof paths, M extends Method> =
  Responses<Operation<P, M>> extends infer R
    ? 200 extends keyof R ? JsonOf<R[200]> : 201 extends keyof R ? JsonOf<R[201]> : undefined
    : never;
type BodyOf<O> = O extends { requestBody: { content: { "application/json": infer B } } } ? B : never;
type PathParams<O> = O extends { parameters: { path: infer PP } } ? PP : never;
type QueryParams<O> = O extends { parameters: { query?: infer Q } } ? Q : never;
type TakesKey<O> = O extends { parameters: { header?: { "Idempotency-Key"?: string } } } ? true : false;

export type Init<P extends keyof paths, M extends Method> = {
  path?: PathParams<Operation<P, M>>;
  query?: QueryParams<Operation<P, M>>;
  body?: BodyOf<Operation<P, M>>;
  /** Operations declaring Idempotency-Key only: your key for this operation (default: a fresh one). */
  idempotencyKey?: TakesKey<Operation<P, M>> extends true ? string : never;
};

/** An error answer: `{"error": {"code", "message"}}`, or a request that never got one (`NETWORK_ERROR`). */
export class KabaoError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(`${code}: ${message}`);
    this.name = "KabaoError";
  }
}

export interface ClientOptions {
  /** e.g. https://api.example.com (no trailing /v1) */
  baseUrl: string;
  wx: Wx;
  /** Attempts of a GET or keyed operation that got no answer or a 503 (same Idempotency-Key each time). Default 3. */
  attempts?: number;
}

/** 32 hex characters: unique enough per member and operation; the server scopes keys to the member and kind. */
export function newIdempotencyKey(): string {
  let key = Date.now().toString(16);
  while (key.length < 32) key += Math.floor(Math.random() * 16).toString(16);
  return key.slice(0, 32);
}

export class KabaoClient {
  private token: string | undefined;

  constructor(private readonly options: ClientOptions) {}

  setToken(token: string | undefined): void {
    this.token = token;
  }

  get<P extends PathsFor<"get">>(path: P, init: Init<P, "get"> = {}): Promise<Answer<P, "get">> {
    return this.call("get", path, init);
  }

  post<P extends PathsFor<"post">>(path: P, init: Init<P, "post"> = {}): Promise<Answer<P, "post">> {
    return this.call("post", path, init);
  }

  put<P extends PathsFor<"put">>(path: P, init: Init<P, "put"> = {}): Promise<Answer<P, "put">> {
    return this.call("put", path, init);
  }

  patch<P extends PathsFor<"patch">>(path: P, init: Init<P, "patch"> = {}): Promise<Answer<P, "patch">> {
    return this.call("patch", path, init);
  }

  delete<P extends PathsFor<"delete">>(path: P, init: Init<P, "delete"> = {}): Promise<Answer<P, "delete">> {
    return this.call("delete", path, init);
  }

  private async call<P extends keyof paths, M extends Method>(method: M, path: P, init: Init<P, M>): Promise<Answer<P, M>> {
    const header: Record<string, string> = { "Content-Type": "application/json" };
    if (this.token) header.Authorization = `Bearer ${this.token}`;
    const keyed = KEYED.has(`${method} ${String(path)}`);
    const key = init.idempotencyKey ?? (keyed ? newIdempotencyKey() : undefined);
    if (key) header["Idempotency-Key"] = key;
    // Only a read or a keyed operation is retried: anything else might happen twice.
    const retryable = method === "get" || keyed;
    const url = this.options.baseUrl.replace(/\/$/, "") + fill(String(path), init.path) + queryString(init.query);
    const attempts = retryable ? this.options.attempts ?? 3 : 1;
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await this.send({ url, method: method.toUpperCase() as WxRequestOptions["method"], header,
                                      data: init.body });
        if (res.statusCode >= 200 && res.statusCode < 300) {
          return (res.statusCode === 204 ? undefined : res.data) as Answer<P, M>;
        }
        const error = (res.data as { error?: { code?: string; message?: string; details?: Record<string, unknown> } })
          ?.error;
        const failure = new KabaoError(res.statusCode, error?.code ?? "HTTP_ERROR",
                                       error?.message ?? `HTTP ${res.statusCode}`, error?.details);
        if (res.statusCode !== 503 || attempt >= attempts) throw failure;
      } catch (err) {
        if (err instanceof KabaoError && err.status !== 0) throw err;
        if (attempt >= attempts) throw err;
      }
    }
  }

  private send(request: Omit<WxRequestOptions, "success" | "fail">) {
    return new Promise<{ statusCode: number; data: unknown }>((resolve, reject) => {
      this.options.wx.request({
        ...request,
        dataType: "json",
        success: (res) => resolve(res),
        fail: (err) => reject(new KabaoError(0, "NETWORK_ERROR", err.errMsg)),
      });
    });
  }
}

function fill(path: string, params: unknown): string {
  const values = (params ?? {}) as Record<string, string>;
  return path.replace(/\{([^}]+)\}/g, (_, name: string) => {
    if (values[name] === undefined) throw new Error(`missing path parameter ${name}`);
    return encodeURIComponent(values[name]);
  });
}

function queryString(query: unknown): string {
  const entries = Object.entries((query ?? {}) as Record<string, unknown>).filter(([, v]) => v !== undefined && v !== null);
  if (!entries.length) return "";
  return "?" + entries.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`).join("&");
}
