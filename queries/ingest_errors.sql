-- ingest_errors: entries that could not be parsed cleanly, with their original
-- text, so that nothing dropped or mangled at ingest goes unnoticed.
--
-- Parameters: none. Reads the `logs` view (so `raw` is already rebuilt).
--
-- Output columns: source, line (first physical line, 1-based), ts (null when
-- the timestamp was unreadable), error (malformed_json, invalid_utf8,
-- truncated, binary, bad_timestamp, …), raw (the entry text as read).
SELECT source, line, ts, error, raw
FROM logs
WHERE error IS NOT NULL
