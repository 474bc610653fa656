# Keyless GitHub Actions auth: GitHub's OIDC token is exchanged for a short-lived token of one
# service account. Only the configured repository (and optionally refs) may do so.

locals {
  # Exact subject claims: `repo:<owner>/<name>:pull_request`, `...:environment:production`, ...
  subject_condition = join(" || ", formatlist("assertion.sub == 'repo:${var.github_repository}:%s'", var.allowed_subjects))
}

resource "google_iam_workload_identity_pool" "github" {
  project                   = var.project_id
  workload_identity_pool_id = var.pool_id
  display_name              = "GitHub Actions Pool"
  description               = "Identity pool for GitHub Actions OIDC tokens"
}

resource "google_iam_workload_identity_pool_provider" "github" {
  project                            = var.project_id
  workload_identity_pool_id          = google_iam_workload_identity_pool.github.workload_identity_pool_id
  workload_identity_pool_provider_id = var.provider_id
  display_name                       = "GitHub OIDC Provider"

  attribute_mapping = {
    "google.subject"       = "assertion.sub"
    "attribute.actor"      = "assertion.actor"
    "attribute.repository" = "assertion.repository"
    "attribute.ref"        = "assertion.ref"
  }

  # Without a condition any GitHub repository could mint tokens for this pool. Exact subjects
  # pin the repository (`repo:<owner>/<name>:` prefix) and limit tokens to PRs, the default
  # branch and the production environment.
  attribute_condition = local.subject_condition

  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }
}

resource "google_service_account_iam_member" "workload_identity_user" {
  service_account_id = var.service_account_id
  role               = "roles/iam.workloadIdentityUser"
  member             = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}/attribute.repository/${var.github_repository}"
}
