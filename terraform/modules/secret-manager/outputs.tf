output "wandb_secret_id" {
  description = "Secret id of the W&B API key."
  value       = google_secret_manager_secret.wandb_api_key.secret_id
}

output "wandb_secret_name" {
  description = "Full resource name of the W&B secret."
  value       = google_secret_manager_secret.wandb_api_key.name
}

output "slack_webhook_secret_id" {
  description = "Secret id of the Slack webhook token (null when not created)."
  value       = one(google_secret_manager_secret.slack_webhook[*].secret_id)
}

output "slack_webhook_secret_name" {
  description = "Full resource name of the Slack secret (null when not created)."
  value       = one(google_secret_manager_secret.slack_webhook[*].name)
}

output "pagerduty_secret_id" {
  description = "Secret id of the PagerDuty key (null when not created)."
  value       = one(google_secret_manager_secret.pagerduty_key[*].secret_id)
}

output "pagerduty_secret_name" {
  description = "Full resource name of the PagerDuty secret (null when not created)."
  value       = one(google_secret_manager_secret.pagerduty_key[*].name)
}

output "generic_secret_ids" {
  description = "Secret ids of the generic secrets, by key."
  value       = { for k, s in google_secret_manager_secret.generic : k => s.secret_id }
}

output "generic_secret_names" {
  description = "Full resource names of the generic secrets, by key."
  value       = { for k, s in google_secret_manager_secret.generic : k => s.name }
}
