output "cloud_run_url" {
  description = "API URL."
  value       = module.cloud_run.service_url
}

output "artifact_registry_url" {
  description = "Docker registry URL."
  value       = module.artifact_registry.repository_url
}

output "dvc_bucket_name" {
  description = "DVC remote bucket."
  value       = module.storage.dvc_bucket_name
}

output "models_bucket_name" {
  description = "Model artifacts bucket."
  value       = module.storage.models_bucket_name
}

output "github_actions_sa_email" {
  description = "Service account for GitHub Actions (GCP_SERVICE_ACCOUNT)."
  value       = module.iam.github_actions_sa_email
}

output "workload_identity_provider" {
  description = "GCP_WORKLOAD_IDENTITY_PROVIDER for GitHub Actions."
  value       = module.workload_identity.workload_identity_provider
}

output "budget_name" {
  description = "Budget resource name."
  value       = module.budget.budget_name
}

output "firestore_database_id" {
  description = "Firestore database id."
  value       = module.firestore.database_id
}

output "monitoring_email_channel_id" {
  description = "Email notification channel id."
  value       = module.monitoring.email_channel_id
}

output "alert_policy_ids" {
  description = "Alert policy names by catalog key."
  value       = module.monitoring.alert_policy_ids
}

output "alert_policies_resolved" {
  description = "Deployed enabled/threshold/duration per policy."
  value       = module.monitoring.resolved_policies
}

output "alert_catalog_version" {
  description = "catalog_version deployed."
  value       = module.monitoring.catalog_version
}
