locals {
  environment = "dev"

  common_labels = {
    project     = "ct-scan-mlops"
    environment = local.environment
    managed_by  = "terraform"
  }

  github_actions_member  = "serviceAccount:${module.iam.github_actions_sa_email}"
  cloud_run_member       = "serviceAccount:${module.iam.cloud_run_sa_email}"
  drift_detection_member = "serviceAccount:${module.iam.drift_detection_sa_email}"
  monitoring_member      = "serviceAccount:${module.iam.monitoring_sa_email}"
}

module "storage" {
  source = "../../modules/storage"

  project_id = var.project_id
  region     = var.region

  # The state bucket is shared and declared only in prod.
  manage_state_bucket    = false
  dvc_bucket_name        = "dtu-mlops-dvc-storage-482907-dev"
  models_bucket_name     = "dtu-mlops-models-482907-dev"
  drift_logs_bucket_name = "ct-scan-drift-logs-482907-dev"

  dvc_bucket_admins     = [local.github_actions_member]
  models_bucket_admins  = [local.github_actions_member]
  models_bucket_readers = [local.cloud_run_member, local.drift_detection_member]
  drift_logs_writers    = [local.drift_detection_member]

  common_labels = local.common_labels
}

module "artifact_registry" {
  source = "../../modules/artifact-registry"

  project_id               = var.project_id
  project_number           = var.project_number
  region                   = var.region
  repository_id            = "ct-scan-mlops-dev"
  image_retention_days     = 30
  minimum_versions_to_keep = 3
  docker_writers           = [local.github_actions_member]
  docker_readers           = [local.cloud_run_member]

  common_labels = local.common_labels
}

module "iam" {
  source = "../../modules/iam"

  project_id  = var.project_id
  name_suffix = "-dev"

  github_actions_roles = [
    "roles/artifactregistry.writer",
    "roles/run.developer",
  ]
}

module "workload_identity" {
  source = "../../modules/workload-identity"

  project_id         = var.project_id
  project_number     = var.project_number
  pool_id            = "github-pool-dev"
  provider_id        = "github-provider-dev"
  github_repository  = var.github_repository
  service_account_id = module.iam.github_actions_sa_id
}

module "secret_manager" {
  source = "../../modules/secret-manager"

  project_id = var.project_id

  wandb_secret_id = "wandb-api-key-dev"
  wandb_accessors = [local.cloud_run_member]

  common_labels = local.common_labels
}

# No Firestore database in dev: dev shares nothing with prod's (default) database and uses the
# SQLite feedback store (USE_FIRESTORE unset).

module "cloud_run" {
  source = "../../modules/cloud-run"

  project_id            = var.project_id
  region                = var.region
  service_name          = "ct-scan-api-dev"
  container_image       = var.container_image
  service_account_email = module.iam.cloud_run_sa_email
  cpu_limit             = "1000m"
  memory_limit          = "2Gi"
  min_instances         = 0
  max_instances         = 3
  concurrency           = 80
  timeout_seconds       = 300

  environment_variables = {
    PROJECT_ID  = var.project_id
    REGION      = var.region
    ENVIRONMENT = "dev"
  }

  secret_environment_variables = {
    WANDB_API_KEY = {
      secret_name = module.secret_manager.wandb_secret_id
      version     = "latest"
    }
  }

  gcs_volume_mount = {
    name       = "models"
    bucket     = module.storage.models_bucket_name
    mount_path = "/models"
    read_only  = true
  }

  common_labels = local.common_labels

  # Secret accessor bindings must exist before a revision reads the secret.
  depends_on = [module.secret_manager]
}

module "budget" {
  source = "../../modules/budget"

  project_id            = var.project_id
  project_number        = var.project_number
  billing_account       = var.billing_account
  monthly_budget_amount = 100
  topic_name            = "billing-budget-alerts-dev"
  budget_display_name   = "CT Scan MLOps Dev Budget"

  common_labels = local.common_labels
}

module "monitoring" {
  source = "../../modules/monitoring"

  project_id             = var.project_id
  environment            = local.environment
  cloud_run_service_name = module.cloud_run.service_name
  alert_catalog_path     = "${path.module}/../../alert_policies.yaml"
  enable_p1_p2_alerts    = var.enable_p1_p2_alerts
  alert_overrides        = var.alert_overrides
  alert_email            = var.alert_email

  slack_enabled         = var.slack_enabled
  slack_auth_token      = var.slack_auth_token
  pagerduty_enabled     = var.pagerduty_enabled
  pagerduty_service_key = var.pagerduty_service_key

  common_labels = local.common_labels
}

# Dagster on GKE (deploy/README.md): Cloud SQL, runtime identity, compute logs, artifacts.
module "dagster_platform" {
  source = "../../modules/dagster_platform"

  project_id              = var.project_id
  region                  = var.region
  name_prefix             = "dagster-dev"
  network_id              = "projects/${var.project_id}/global/networks/default"
  sql_high_availability   = false
  compute_log_bucket_name = "ct-scan-dagster-logs-482907-dev"
  artifacts_bucket_name   = "ct-scan-artifacts-482907-dev"

  runtime_bucket_roles = {
    (module.storage.models_bucket_name)     = ["roles/storage.objectViewer"]
    (module.storage.drift_logs_bucket_name) = ["roles/storage.objectViewer"]
  }

  common_labels = local.common_labels
}
