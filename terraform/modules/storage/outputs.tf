output "terraform_state_bucket_name" {
  description = "State bucket name (null when this environment does not manage it)."
  value       = one(google_storage_bucket.terraform_state[*].name)
}

output "terraform_state_bucket_url" {
  description = "State bucket gs:// URL (null when not managed here)."
  value       = one(google_storage_bucket.terraform_state[*].url)
}

output "dvc_bucket_name" {
  description = "DVC bucket name."
  value       = google_storage_bucket.dvc.name
}

output "dvc_bucket_url" {
  description = "DVC bucket gs:// URL."
  value       = google_storage_bucket.dvc.url
}

output "models_bucket_name" {
  description = "Models bucket name."
  value       = google_storage_bucket.models.name
}

output "models_bucket_url" {
  description = "Models bucket gs:// URL."
  value       = google_storage_bucket.models.url
}

output "drift_logs_bucket_name" {
  description = "Drift logs bucket name."
  value       = google_storage_bucket.drift_logs.name
}

output "drift_logs_bucket_url" {
  description = "Drift logs bucket gs:// URL."
  value       = google_storage_bucket.drift_logs.url
}
