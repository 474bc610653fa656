resource "google_pubsub_topic" "billing_alerts" {
  #checkov:skip=CKV_GCP_83:Budget notifications carry only spend figures; Google-managed encryption is sufficient and avoids a KMS key per environment.
  project = var.project_id
  name    = var.topic_name

  labels = merge(var.common_labels, { purpose = "billing-alerts" })
}

resource "google_billing_budget" "ct_scan_budget" {
  billing_account = var.billing_account
  display_name    = var.budget_display_name

  budget_filter {
    projects = ["projects/${var.project_number}"]
  }

  amount {
    specified_amount {
      currency_code = var.currency_code
      units         = tostring(var.monthly_budget_amount)
    }
  }

  dynamic "threshold_rules" {
    for_each = var.threshold_percents
    content {
      threshold_percent = threshold_rules.value
      spend_basis       = "CURRENT_SPEND"
    }
  }

  all_updates_rule {
    pubsub_topic                     = google_pubsub_topic.billing_alerts.id
    schema_version                   = "1.0"
    disable_default_iam_recipients   = false
    monitoring_notification_channels = var.monitoring_notification_channels
  }
}

resource "google_pubsub_subscription" "billing_alerts_subscription" {
  count = var.create_pubsub_subscription ? 1 : 0

  project                    = var.project_id
  name                       = "${var.topic_name}-subscription"
  topic                      = google_pubsub_topic.billing_alerts.id
  message_retention_duration = "604800s"
  ack_deadline_seconds       = 60

  labels = var.common_labels
}
