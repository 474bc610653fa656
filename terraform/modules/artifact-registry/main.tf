resource "google_artifact_registry_repository" "docker" {
  #checkov:skip=CKV_GCP_84:Images contain only public code and no data; Google-managed encryption is sufficient and a CMEK key would add a KMS dependency per environment.
  project                = var.project_id
  location               = var.region
  repository_id          = var.repository_id
  description            = "Docker images for the CT scan API and training jobs"
  format                 = "DOCKER"
  cleanup_policy_dry_run = var.cleanup_policy_dry_run

  cleanup_policies {
    id     = "delete-old-images"
    action = "DELETE"
    condition {
      older_than = "${var.image_retention_days * 86400}s"
    }
  }

  # KEEP wins over DELETE, so the newest versions survive the age rule.
  cleanup_policies {
    id     = "keep-minimum-versions"
    action = "KEEP"
    most_recent_versions {
      keep_count = var.minimum_versions_to_keep
    }
  }

  labels = merge(var.common_labels, { purpose = "docker-registry" })
}

resource "google_artifact_registry_repository_iam_member" "docker_reader" {
  for_each = toset(var.docker_readers)

  project    = var.project_id
  location   = google_artifact_registry_repository.docker.location
  repository = google_artifact_registry_repository.docker.name
  role       = "roles/artifactregistry.reader"
  member     = each.value
}

resource "google_artifact_registry_repository_iam_member" "docker_writer" {
  for_each = toset(var.docker_writers)

  project    = var.project_id
  location   = google_artifact_registry_repository.docker.location
  repository = google_artifact_registry_repository.docker.name
  role       = "roles/artifactregistry.writer"
  member     = each.value
}

resource "google_artifact_registry_repository_iam_member" "cloud_build" {
  count = var.enable_cloud_build_access ? 1 : 0

  project    = var.project_id
  location   = google_artifact_registry_repository.docker.location
  repository = google_artifact_registry_repository.docker.name
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${var.project_number}@cloudbuild.gserviceaccount.com"
}
