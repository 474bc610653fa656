output "github_actions_sa_email" {
  description = "Email of the GitHub Actions SA."
  value       = google_service_account.github_actions.email
}

output "github_actions_sa_id" {
  description = "Resource name of the GitHub Actions SA (for SA-level IAM)."
  value       = google_service_account.github_actions.name
}

output "cloud_run_sa_email" {
  description = "Email of the Cloud Run runtime SA."
  value       = google_service_account.cloud_run.email
}

output "cloud_run_sa_id" {
  description = "Resource name of the Cloud Run runtime SA."
  value       = google_service_account.cloud_run.name
}

output "drift_detection_sa_email" {
  description = "Email of the drift detection SA."
  value       = google_service_account.drift_detection.email
}

output "monitoring_sa_email" {
  description = "Email of the monitoring SA."
  value       = google_service_account.monitoring.email
}
