/** Method + path pattern matching: `/invoices/:invoiceId` binds one path segment per `:name`. */

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD';

interface Compiled<T> {
  method: HttpMethod;
  segments: Array<{ param: string } | { literal: string }>;
  value: T;
}

export type RouteMatch<T> =
  | { kind: 'found'; value: T; params: Record<string, string> }
  | { kind: 'method_not_allowed'; allowed: HttpMethod[] }
  | { kind: 'not_found' }
  | { kind: 'bad_path' };

const splitPath = (path: string) => path.split('/').filter((s, i) => i > 0 || s !== '');

export class Router<T> {
  private readonly routes: Compiled<T>[] = [];

  add(method: HttpMethod, pattern: string, value: T): void {
    if (!pattern.startsWith('/')) throw new Error(`route pattern must start with "/": ${pattern}`);
    const segments = splitPath(pattern).map((s) => {
      if (!s.startsWith(':')) return { literal: s };
      const param = s.slice(1);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(param)) throw new Error(`bad parameter name in route ${pattern}`);
      return { param };
    });
    this.routes.push({ method, segments, value });
  }

  match(method: string, path: string): RouteMatch<T> {
    const parts = splitPath(path);
    const allowed: HttpMethod[] = [];
    for (const route of this.routes) {
      if (route.segments.length !== parts.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < parts.length && ok; i++) {
        const seg = route.segments[i]!;
        const part = parts[i]!;
        if ('literal' in seg) ok = seg.literal === part;
        else if (part === '') ok = false;
        else {
          try {
            params[seg.param] = decodeURIComponent(part);
          } catch {
            return { kind: 'bad_path' };
          }
        }
      }
      if (!ok) continue;
      // HEAD is served by the GET route (no body is sent).
      if (route.method === method || (method === 'HEAD' && route.method === 'GET')) {
        return { kind: 'found', value: route.value, params };
      }
      allowed.push(route.method);
    }
    return allowed.length ? { kind: 'method_not_allowed', allowed } : { kind: 'not_found' };
  }
}
