output "database_id" {
  description = "Firestore database id."
  value       = google_firestore_database.feedback.name
}

output "database_location" {
  description = "Firestore database location."
  value       = google_firestore_database.feedback.location_id
}

output "database_type" {
  description = "Firestore database type."
  value       = google_firestore_database.feedback.type
}

output "index_names" {
  description = "Composite index resource names, by key."
  value       = { for k, idx in google_firestore_index.feedback : k => idx.name }
}
