output "budget_name" {
  description = "Resource name of the budget."
  value       = google_billing_budget.ct_scan_budget.name
}

output "pubsub_topic_name" {
  description = "Name of the notification topic."
  value       = google_pubsub_topic.billing_alerts.name
}

output "pubsub_topic_id" {
  description = "Id of the notification topic."
  value       = google_pubsub_topic.billing_alerts.id
}
