output "email_channel_id" {
  description = "Id of the email notification channel."
  value       = google_monitoring_notification_channel.email.id
}

output "slack_channel_id" {
  description = "Id of the Slack channel (null when disabled)."
  value       = one(google_monitoring_notification_channel.slack[*].id)
}

output "pagerduty_channel_id" {
  description = "Id of the PagerDuty channel (null when disabled)."
  value       = one(google_monitoring_notification_channel.pagerduty[*].id)
}

output "alert_policy_ids" {
  description = "Alert policy resource names, by catalog key."
  value       = { for key, p in google_monitoring_alert_policy.catalog : key => p.name }
}

output "catalog_version" {
  description = "catalog_version of the catalog these policies were generated from."
  value       = module.catalog.catalog_version
}

output "resolved_policies" {
  description = "Per policy: enabled, severity and the primary condition's threshold and duration as deployed (for semantic drift checks)."
  value = {
    for key, p in module.catalog.policies : key => {
      enabled         = p.enabled
      severity        = p.severity
      threshold_value = p.conditions[0].threshold_value
      duration        = p.conditions[0].duration
    }
  }
}
