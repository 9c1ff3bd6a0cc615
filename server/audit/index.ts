export { type AuditActor, type AuditEvent, type AuditInput, appendAudit, auditHash, GENESIS_HASH } from './append';
export { type ExportAuditOptions, exportAudit, type SearchAuditOptions, type SearchAuditResult, searchAudit } from './search';
export { type VerifyResult, verifyAudit, verifyAuditExport } from './verify';
export { AuditWriter } from './writer';
