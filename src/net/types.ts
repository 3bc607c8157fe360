// The one outbound HTTP client of the service (implemented in http-client.ts). Channels and sources call this,
// never undici or fetch directly, so every call gets the same timeouts and the private-address guard.

export interface HttpRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Overall deadline for the request, headers and body; default from the client. */
  timeoutMs?: number;
  /** 'same-origin': a redirect to another origin is an error (the request carries credentials). Default 'follow'. */
  redirect?: 'follow' | 'same-origin';
}

export interface HttpResponse {
  status: number;
  /** Lower-case header names. */
  headers: Record<string, string>;
  /** Response body as text, cut at the client's cap (64 KiB by default). */
  body: string;
}

export type OutboundErrorKind = 'blocked' | 'timeout' | 'unreachable' | 'bad_url';

/** A request that got no HTTP answer. The message is safe to show a user: no credentials, no query strings. */
export class OutboundError extends Error {
  constructor(
    readonly kind: OutboundErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'OutboundError';
  }
}

export interface HttpClient {
  request(url: string, req?: HttpRequest): Promise<HttpResponse>;
  close(): Promise<void>;
}
