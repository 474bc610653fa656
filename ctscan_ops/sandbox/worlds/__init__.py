"""The generated sandbox world: one part per domain, writing the same layouts a real project
provides (the domains' contracts). Imports the domains; no domain imports it."""
