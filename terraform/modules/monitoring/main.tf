# Notification channels and the alert policies of the catalog (terraform/alert_policies.yaml).
# One google_monitoring_alert_policy per catalog key; documentation = the policy's runbook.

locals {
  catalog_path = coalesce(var.alert_catalog_path, "${path.module}/../../alert_policies.yaml")

  enabled_channel_kinds = concat(
    ["email"],
    var.slack_enabled ? ["slack"] : [],
    var.pagerduty_enabled ? ["pagerduty"] : [],
  )
  all_channel_ids = {
    email     = google_monitoring_notification_channel.email.id
    slack     = one(google_monitoring_notification_channel.slack[*].id)
    pagerduty = one(google_monitoring_notification_channel.pagerduty[*].id)
  }
  # Channels a policy asks for but that this environment does not have are skipped.
  channel_ids = { for kind, id in local.all_channel_ids : kind => id if contains(local.enabled_channel_kinds, kind) }
}

module "catalog" {
  source = "./catalog"

  catalog_path        = local.catalog_path
  environment         = var.environment
  project_id          = var.project_id
  service_name        = var.cloud_run_service_name
  enable_p1_p2_alerts = var.enable_p1_p2_alerts
  alert_overrides     = var.alert_overrides
}

resource "google_monitoring_notification_channel" "email" {
  project      = var.project_id
  display_name = "CT Scan Team Email"
  type         = "email"

  labels = {
    email_address = var.alert_email
  }

  user_labels = var.common_labels
}

resource "google_monitoring_notification_channel" "slack" {
  count = var.slack_enabled ? 1 : 0

  project      = var.project_id
  display_name = "CT Scan Slack ${var.slack_channel_name}"
  type         = "slack"

  labels = {
    channel_name = var.slack_channel_name
  }

  sensitive_labels {
    auth_token = var.slack_auth_token
  }

  user_labels = var.common_labels

  lifecycle {
    precondition {
      condition     = var.slack_auth_token != null
      error_message = "slack_enabled is true but slack_auth_token is not set."
    }
  }
}

resource "google_monitoring_notification_channel" "pagerduty" {
  count = var.pagerduty_enabled ? 1 : 0

  project      = var.project_id
  display_name = "CT Scan PagerDuty"
  type         = "pagerduty"

  sensitive_labels {
    service_key = var.pagerduty_service_key
  }

  user_labels = var.common_labels

  lifecycle {
    precondition {
      condition     = var.pagerduty_service_key != null
      error_message = "pagerduty_enabled is true but pagerduty_service_key is not set."
    }
  }
}

resource "google_logging_metric" "catalog" {
  for_each = module.catalog.log_based_metrics

  project     = var.project_id
  name        = each.key
  description = each.value.description
  filter      = each.value.filter

  metric_descriptor {
    metric_kind = each.value.metric_kind
    value_type  = each.value.value_type
    unit        = each.value.unit
  }
}

resource "google_monitoring_alert_policy" "catalog" {
  for_each = module.catalog.policies

  project      = var.project_id
  display_name = each.value.display_name
  combiner     = each.value.combiner
  enabled      = each.value.enabled

  notification_channels = [
    for kind in each.value.notify : local.channel_ids[kind] if contains(keys(local.channel_ids), kind)
  ]

  user_labels = merge(var.common_labels, {
    policy   = each.key
    severity = lower(each.value.severity)
  })

  dynamic "conditions" {
    for_each = each.value.conditions
    content {
      display_name = conditions.value.display_name

      condition_threshold {
        filter                  = conditions.value.filter
        denominator_filter      = conditions.value.denominator_filter
        comparison              = conditions.value.comparison
        threshold_value         = conditions.value.threshold_value
        duration                = conditions.value.duration
        evaluation_missing_data = conditions.value.evaluation_missing_data

        trigger {
          count   = conditions.value.trigger_count
          percent = conditions.value.trigger_percent
        }

        dynamic "aggregations" {
          for_each = conditions.value.aggregations
          content {
            alignment_period     = aggregations.value.alignment_period
            per_series_aligner   = aggregations.value.per_series_aligner
            cross_series_reducer = aggregations.value.cross_series_reducer
            group_by_fields      = aggregations.value.group_by_fields
          }
        }

        dynamic "denominator_aggregations" {
          for_each = conditions.value.denominator_aggregations
          content {
            alignment_period     = denominator_aggregations.value.alignment_period
            per_series_aligner   = denominator_aggregations.value.per_series_aligner
            cross_series_reducer = denominator_aggregations.value.cross_series_reducer
            group_by_fields      = denominator_aggregations.value.group_by_fields
          }
        }
      }
    }
  }

  dynamic "alert_strategy" {
    for_each = each.value.auto_close == null ? [] : [each.value.auto_close]
    content {
      auto_close = alert_strategy.value
    }
  }

  documentation {
    content   = file("${path.module}/runbooks/${each.value.runbook}")
    mime_type = "text/markdown"
  }

  # Policies on log-based metrics fail to create before the metric exists.
  depends_on = [google_logging_metric.catalog]
}
