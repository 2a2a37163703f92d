// The few Workers runtime types the TypeScript twin uses, declared here so that the benchmark
// needs no @cloudflare/workers-types. esbuild strips types and checks none of them; these are
// documentation for the reader.

interface D1Result<T = Record<string, unknown>> {
  results: T[];
  success: boolean;
  meta: Record<string, unknown>;
}

interface D1PreparedStatement {
  bind(...values: unknown[]): D1PreparedStatement;
  first<T = Record<string, unknown>>(): Promise<T | null>;
  run<T = Record<string, unknown>>(): Promise<D1Result<T>>;
}

interface D1Database {
  prepare(query: string): D1PreparedStatement;
}

interface KVNamespace {
  put(key: string, value: string): Promise<void>;
}

interface Queue<Body = unknown> {
  send(body: Body, options?: { contentType?: "json" | "text" | "bytes" | "v8"; delaySeconds?: number }): Promise<void>;
}
