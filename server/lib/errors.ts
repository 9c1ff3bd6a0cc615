/** Error codes domain code throws; one place (http.ts / the gateway) maps them to responses. */
export type ErrorCode = 'bad_request' | 'unauthorized' | 'forbidden' | 'not_found' | 'conflict' | 'gone' | 'unavailable' | 'internal';

const httpStatus: Record<ErrorCode, number> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  gone: 410,
  unavailable: 503,
  internal: 500,
};

export class AirlockError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'AirlockError';
  }

  get status(): number {
    return httpStatus[this.code];
  }
}

export function isAirlockError(error: unknown): error is AirlockError {
  return error instanceof AirlockError;
}
