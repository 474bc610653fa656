# Service accounts with least-privilege project roles. Roles that can be scoped to one resource
# (bucket, secret, repository, service account) are granted by the module owning that resource.

locals {
  role_bindings = merge(
    { for role in var.github_actions_roles : "github_actions/${role}" => { sa = "github_actions", role = role } },
    { for role in var.cloud_run_roles : "cloud_run/${role}" => { sa = "cloud_run", role = role } },
    { for role in var.drift_detection_roles : "drift_detection/${role}" => { sa = "drift_detection", role = role } },
    { for role in var.monitoring_roles : "monitoring/${role}" => { sa = "monitoring", role = role } },
  )
  sa_emails = {
    github_actions  = google_service_account.github_actions.email
    cloud_run       = google_service_account.cloud_run.email
    drift_detection = google_service_account.drift_detection.email
    monitoring      = google_service_account.monitoring.email
  }
}

resource "google_service_account" "github_actions" {
  project      = var.project_id
  account_id   = "github-actions${var.name_suffix}"
  display_name = "GitHub Actions (keyless, via workload identity)"
}

resource "google_service_account" "cloud_run" {
  project      = var.project_id
  account_id   = "cloud-run${var.name_suffix}"
  display_name = "CT scan API runtime"
}

resource "google_service_account" "drift_detection" {
  project      = var.project_id
  account_id   = "drift-detection${var.name_suffix}"
  display_name = "Drift detection job"
  description  = "Runs drift detection and publishes custom metrics"
}

resource "google_service_account" "monitoring" {
  project      = var.project_id
  account_id   = "monitoring${var.name_suffix}"
  display_name = "Monitoring and alerting"
}

resource "google_project_iam_member" "sa_roles" {
  for_each = local.role_bindings

  project = var.project_id
  role    = each.value.role
  member  = "serviceAccount:${local.sa_emails[each.value.sa]}"
}

# The deployer may act as the runtime SA only (not as every SA in the project, which a
# project-level roles/iam.serviceAccountUser would allow).
resource "google_service_account_iam_member" "github_actions_act_as_cloud_run" {
  service_account_id = google_service_account.cloud_run.name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.github_actions.email}"
}
