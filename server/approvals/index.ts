export { type DecideOptions, type DecideResult, decide } from './decide';
export { claimExecution, closeRequest, createRequest, expireOverdue, getRequest, loadOutcomes } from './lifecycle';
export { getRequestDetail, listRequests } from './queries';
export * from './types';
