/** The admin forms' one way to call the JSON API: same-origin, JSON in and out, errors as text. */
export type ApiResult<T> = { ok: true; data: T } | { ok: false; status: number; message: string };

export async function apiRequest<T>(path: string, method: 'POST' | 'PATCH' | 'DELETE', body?: unknown): Promise<ApiResult<T>> {
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      credentials: 'same-origin',
      cache: 'no-store',
      headers: body === undefined ? undefined : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    return { ok: false, status: 0, message: 'Airlock did not answer. Check your connection and try again.' };
  }
  const data = (await response.json().catch(() => null)) as (T & { error?: { message?: string } }) | null;
  if (response.ok && data) return { ok: true, data };
  if (response.status === 401) return { ok: false, status: 401, message: 'Your session has ended. Sign in again.' };
  return { ok: false, status: response.status, message: data?.error?.message ?? `The request failed (HTTP ${response.status}).` };
}
