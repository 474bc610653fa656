"""The alert evaluation engine: filters, series, the Monitoring source, the evaluator with the
deployed semantics (and its brute-force reference), runtime glue and file input/output."""
