# Secret containers only. Values are added out of band (gcloud secrets versions add), so no
# secret value ever enters Terraform state or plan files.

locals {
  slack_accessors     = var.create_slack_webhook_secret ? toset(var.slack_webhook_accessors) : toset([])
  pagerduty_accessors = var.create_pagerduty_secret ? toset(var.pagerduty_accessors) : toset([])
  generic_accessors = {
    for pair in flatten([
      for secret_id, cfg in var.generic_secrets : [
        for member in cfg.accessors : { secret_id = secret_id, member = member }
      ]
    ]) : "${pair.secret_id}/${pair.member}" => pair
  }
}

resource "google_secret_manager_secret" "wandb_api_key" {
  project   = var.project_id
  secret_id = var.wandb_secret_id

  replication {
    auto {}
  }

  labels = merge(var.common_labels, { purpose = "wandb-api-key" })
}

resource "google_secret_manager_secret_iam_member" "wandb_accessor" {
  for_each = toset(var.wandb_accessors)

  project   = var.project_id
  secret_id = google_secret_manager_secret.wandb_api_key.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = each.value
}

resource "google_secret_manager_secret" "slack_webhook" {
  count = var.create_slack_webhook_secret ? 1 : 0

  project   = var.project_id
  secret_id = var.slack_webhook_secret_id

  replication {
    auto {}
  }

  labels = merge(var.common_labels, { purpose = "slack-webhook" })
}

resource "google_secret_manager_secret_iam_member" "slack_webhook_accessor" {
  for_each = local.slack_accessors

  project   = var.project_id
  secret_id = google_secret_manager_secret.slack_webhook[0].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = each.value
}

resource "google_secret_manager_secret" "pagerduty_key" {
  count = var.create_pagerduty_secret ? 1 : 0

  project   = var.project_id
  secret_id = var.pagerduty_secret_id

  replication {
    auto {}
  }

  labels = merge(var.common_labels, { purpose = "pagerduty-key" })
}

resource "google_secret_manager_secret_iam_member" "pagerduty_accessor" {
  for_each = local.pagerduty_accessors

  project   = var.project_id
  secret_id = google_secret_manager_secret.pagerduty_key[0].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = each.value
}

resource "google_secret_manager_secret" "generic" {
  for_each = var.generic_secrets

  project   = var.project_id
  secret_id = each.key

  replication {
    auto {}
  }

  labels = merge(var.common_labels, { purpose = "generic-secret" })
}

resource "google_secret_manager_secret_iam_member" "generic_accessor" {
  for_each = local.generic_accessors

  project   = var.project_id
  secret_id = google_secret_manager_secret.generic[each.value.secret_id].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = each.value.member
}
