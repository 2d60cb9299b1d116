/**
 * HTTP errors: every error the API answers comes from the catalogue (errors/catalogue.ts), with
 * its HTTP status; the admin facade's failures map here, once.
 */
import { ERRORS } from '../errors/catalogue.js';
import type { ErrorCode } from '../errors/catalogue.js';
import type { AdminFailureReason } from '../core/admin.js';

/** The body of every error answer. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; detail: string };
}

export class HttpError extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly detail: string,
  ) {
    super(detail);
    this.name = 'HttpError';
  }

  get status(): number {
    return ERRORS[this.code].http;
  }

  body(): ErrorBody {
    return { error: { code: this.code, message: ERRORS[this.code].text, detail: this.detail } };
  }
}

const BY_REASON: Readonly<Record<AdminFailureReason, ErrorCode>> = {
  'unknown-client': 'SB_ERR_UNKNOWN_CLIENT',
  'not-connected': 'SB_ERR_NOT_CONNECTED',
  'not-found': 'SB_ERR_NOT_FOUND',
  invalid: 'SB_ERR_INVALID_REQUEST',
  forbidden: 'SB_ERR_NOT_AUTHORIZED',
  quota: 'SB_ERR_QUOTA',
  unsupported: 'SB_ERR_UNSUPPORTED',
};

export function adminError(reason: AdminFailureReason, detail: string): HttpError {
  return new HttpError(BY_REASON[reason], detail);
}
