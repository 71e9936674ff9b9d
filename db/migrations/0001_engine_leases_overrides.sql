CREATE TABLE "environment_overrides" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"kind" text NOT NULL,
	"target_id" text NOT NULL,
	"target_name" text,
	"job_id" uuid NOT NULL,
	"original" jsonb NOT NULL,
	"applied" jsonb NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"restored_at" timestamp with time zone,
	"restored_by" text
);
--> statement-breakpoint
CREATE TABLE "resource_leases" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"resource" text NOT NULL,
	"job_id" uuid NOT NULL,
	"acquired_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "resource_leases" ADD CONSTRAINT "resource_leases_job_id_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."jobs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "environment_overrides_kind_target_job_idx" ON "environment_overrides" USING btree ("kind","target_id","job_id");--> statement-breakpoint
CREATE INDEX "environment_overrides_open_idx" ON "environment_overrides" USING btree ("restored_at");--> statement-breakpoint
CREATE UNIQUE INDEX "resource_leases_resource_job_idx" ON "resource_leases" USING btree ("resource","job_id");--> statement-breakpoint
CREATE INDEX "resource_leases_job_idx" ON "resource_leases" USING btree ("job_id");