-- logs (table schema v1 archives): the stored log rows as readers expect
-- them, with the text the archive deduplicated put back. Archives written
-- with schema v2 use logs_view_v2.sql, since v3 logs_view.sql.
--
-- The archive leaves `message` null when `render_template(template, params)`
-- reproduces it, and `raw` null when `coalesce(header, '') || message` does;
-- this view rebuilds both so that every row carries its full text again.
-- The join is a LEFT JOIN on the ingest-time template id (every id ever issued
-- keeps its text in `templates`), so no row is lost; if a template were ever
-- missing, the rebuilt columns stay null rather than being guessed (`||`, not
-- `concat`, because concat would silently drop the missing message).
--
-- Parameters: none. Reads `logs_stored` (the table as stored) and `templates`.
--
-- Output columns: every column of `logs_stored`, in stored order and under its
-- stored name — ts, source, line, level, service, host, trace_id, span_id,
-- parent_span_id, template_id, params, message, fields, header, raw, error,
-- and for an archive the partition columns dt and hour — with `message` and
-- `raw` rebuilt. Selecting `*` keeps the one SQL text valid both for the
-- archive (which has dt/hour) and for in-memory batches (which do not).
SELECT r.* REPLACE (COALESCE(r.raw, COALESCE(r.header, '') || r.message) AS raw)
FROM (
    SELECT l.* REPLACE (
        COALESCE(l.message, render_template(t.template, l.params)) AS message
    )
    FROM logs_stored AS l
    LEFT JOIN templates AS t ON t.template_id = l.template_id
) AS r
