output "sql_instance_name" {
  description = "Cloud SQL instance name."
  value       = google_sql_database_instance.dagster.name
}

output "sql_connection_name" {
  description = "Cloud SQL connection name (project:region:instance)."
  value       = google_sql_database_instance.dagster.connection_name
}

output "sql_private_ip" {
  description = "Private IP of the instance: Helm values postgresql.postgresqlHost."
  value       = google_sql_database_instance.dagster.private_ip_address
}

output "database_name" {
  description = "Dagster's database: Helm values postgresql.postgresqlDatabase."
  value       = google_sql_database.dagster.name
}

output "database_user" {
  description = "Dagster's database user: Helm values postgresql.postgresqlUsername."
  value       = google_sql_user.dagster.name
}

output "db_password_secret_id" {
  description = "Secret Manager secret holding the database password (value added out of band)."
  value       = google_secret_manager_secret.db_password.secret_id
}

output "runtime_service_account_email" {
  description = "Google service account of the Dagster pods: Helm values serviceAccount.annotations."
  value       = google_service_account.dagster_runtime.email
}

output "compute_log_bucket" {
  description = "Compute-log bucket: Helm values computeLogManager.config.gcsComputeLogManager.bucket."
  value       = google_storage_bucket.compute_logs.name
}

output "artifacts_bucket" {
  description = "ctscan_ops artifact bucket (CTSCAN_ARTIFACTS_BUCKET); null when not created here."
  value       = try(google_storage_bucket.artifacts[0].name, null)
}
