locals {
  environment = "prod"

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

  manage_state_bucket         = true
  terraform_state_bucket_name = "dtu-mlops-terraform-state-482907"
  dvc_bucket_name             = "dtu-mlops-dvc-storage-482907"
  # The models bucket pre-dates Terraform (Cloud Build default bucket, US multi-region).
  models_bucket_name     = "dtu-mlops-data-482907_cloudbuild"
  models_bucket_location = "US"
  drift_logs_bucket_name = "ct-scan-drift-logs-482907"

  dvc_bucket_admins = [local.github_actions_member]
  # Prod mounts the models bucket read-write at /gcs (drift/current.csv is appended by the API).
  models_bucket_admins  = [local.github_actions_member, local.cloud_run_member]
  models_bucket_readers = [local.drift_detection_member]
  drift_logs_writers    = [local.drift_detection_member]

  common_labels = local.common_labels
}

module "artifact_registry" {
  source = "../../modules/artifact-registry"

  project_id               = var.project_id
  project_number           = var.project_number
  region                   = var.region
  repository_id            = "ct-scan-mlops"
  image_retention_days     = 90
  minimum_versions_to_keep = 5
  docker_writers           = [local.github_actions_member]
  docker_readers           = [local.cloud_run_member]

  common_labels = local.common_labels
}

module "iam" {
  source = "../../modules/iam"

  project_id  = var.project_id
  name_suffix = ""

  # CI runs `terraform apply` for prod, so its SA needs to manage every resource type here.
  # cloudfunctions.admin and billing.user of the original are dropped: no Cloud Function
  # exists, and the budget is managed with the billing account's own IAM.
  github_actions_roles = [
    "roles/artifactregistry.writer",
    "roles/run.admin",
    "roles/storage.admin",
    "roles/secretmanager.admin",
    "roles/monitoring.admin",
    "roles/logging.configWriter",
    "roles/datastore.owner",
    "roles/iam.serviceAccountAdmin",
    "roles/iam.workloadIdentityPoolAdmin",
    "roles/resourcemanager.projectIamAdmin",
    "roles/pubsub.admin",
  ]
}

module "workload_identity" {
  source = "../../modules/workload-identity"

  project_id         = var.project_id
  project_number     = var.project_number
  pool_id            = "github-pool"
  provider_id        = "github-provider"
  github_repository  = var.github_repository
  service_account_id = module.iam.github_actions_sa_id
}

module "secret_manager" {
  source = "../../modules/secret-manager"

  project_id = var.project_id

  wandb_secret_id = "wandb-api-key"
  wandb_accessors = [local.cloud_run_member]

  create_slack_webhook_secret = true
  slack_webhook_secret_id     = "slack-webhook-token"
  slack_webhook_accessors     = [local.monitoring_member]

  common_labels = local.common_labels
}

module "firestore" {
  source = "../../modules/firestore"

  project_id  = var.project_id
  database_id = "(default)"
  location_id = "eur3"
  enable_pitr = true
}

module "cloud_run" {
  source = "../../modules/cloud-run"

  project_id            = var.project_id
  region                = var.region
  service_name          = "ct-scan-api"
  container_image       = var.container_image
  service_account_email = module.iam.cloud_run_sa_email
  cpu_limit             = "2"
  memory_limit          = "4Gi"
  min_instances         = 0
  max_instances         = 20
  concurrency           = 80
  timeout_seconds       = 300

  environment_variables = {
    MODEL_PATH            = "/gcs/outputs/checkpoints/model.pt"
    FEATURE_METADATA_PATH = "/gcs/outputs/checkpoints/feature_metadata.json"
    CONFIG_PATH           = "/gcs/configs/config.yaml"
    DEPLOYMENT_ID         = "20260131-102227"
    RELOAD_TIME           = "1769851883"
    FEATURES_UPDATED      = "1769852116"
    GCP_PROJECT_ID        = var.project_id
    USE_FIRESTORE         = "1"
    DRIFT_REFERENCE_PATH  = "/gcs/drift/reference.csv"
    DRIFT_CURRENT_PATH    = "/gcs/drift/current.csv"
    DRIFT_REPORT_PATH     = "/gcs/drift/drift_report.html"
  }

  gcs_volume_mount = {
    name       = "gcs-bucket"
    bucket     = module.storage.models_bucket_name
    mount_path = "/gcs"
    read_only  = false
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
  monthly_budget_amount = 500

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
  name_prefix             = "dagster"
  network_id              = "projects/${var.project_id}/global/networks/default"
  sql_high_availability   = true
  compute_log_bucket_name = "ct-scan-dagster-logs-482907"
  artifacts_bucket_name   = "ct-scan-artifacts-482907"

  runtime_bucket_roles = {
    (module.storage.models_bucket_name)     = ["roles/storage.objectViewer"]
    (module.storage.drift_logs_bucket_name) = ["roles/storage.objectViewer"]
    # the terraform_state asset reads every environment's state (read-only)
    (module.storage.terraform_state_bucket_name) = ["roles/storage.objectViewer"]
  }

  common_labels = local.common_labels
}
