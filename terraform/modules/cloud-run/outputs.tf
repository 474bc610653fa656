output "service_name" {
  description = "Cloud Run service name."
  value       = google_cloud_run_v2_service.api.name
}

output "service_url" {
  description = "HTTPS URL of the service."
  value       = google_cloud_run_v2_service.api.uri
}

output "service_id" {
  description = "Full resource id of the service."
  value       = google_cloud_run_v2_service.api.id
}

output "service_location" {
  description = "Region of the service."
  value       = google_cloud_run_v2_service.api.location
}
