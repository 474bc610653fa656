output "repository_id" {
  description = "Repository id."
  value       = google_artifact_registry_repository.docker.repository_id
}

output "repository_url" {
  description = "Docker registry URL: <location>-docker.pkg.dev/<project>/<repository>."
  value       = "${google_artifact_registry_repository.docker.location}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.docker.repository_id}"
}

output "repository_location" {
  description = "Repository location."
  value       = google_artifact_registry_repository.docker.location
}

output "repository_name" {
  description = "Full resource name of the repository."
  value       = google_artifact_registry_repository.docker.name
}
