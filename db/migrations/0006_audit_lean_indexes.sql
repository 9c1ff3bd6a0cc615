DROP INDEX "audit_events_id_idx";--> statement-breakpoint
DROP INDEX "audit_events_request_idx";--> statement-breakpoint
CREATE INDEX "audit_events_request_idx" ON "audit_events" USING btree ("request_id") WHERE "audit_events"."request_id" is not null;