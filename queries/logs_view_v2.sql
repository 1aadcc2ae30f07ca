-- logs over archives written with table schema v2 (before ts, ids and params
-- had their stored forms; see logs_view.sql for what v3 changed): the stored
-- log rows as readers expect them, with every text the archive left out put
-- back.
--
-- The archive stores each piece of text once (see the README, "How the
-- archive stores text"):
--   message  null when the template and params rebuild it: render_message
--            renders the template and, for a JSON/logfmt row (its raw has a
--            message hole), cuts the key shape back off;
--   header,  residuals: the text with holes where the row's ts, message and
--   raw      ids were; fill_residual fills them. raw is null when
--            header || message is the whole entry;
--   fields   null when a parse of the entry text gives it back: entry_fields,
--            given the row's columns, so a key stays unless its column holds
--            its value (rows written by older parsing rules lose nothing).
-- Each level of the query needs the one before: message, then the texts,
-- then fields from the rebuilt text.
-- The join is a LEFT JOIN on the ingest-time template id (every id ever
-- issued keeps its text in `templates`), so no row is lost; if a template were
-- ever missing, the rebuilt columns stay null rather than being guessed (`||`,
-- not `concat`, because concat would silently drop the missing message).
--
-- Parameters: none. Reads `logs_stored` (the table as stored) and `templates`.
--
-- Output columns: every column of `logs_stored`, in stored order and under its
-- stored name — ts, source, line, level, service, host, trace_id, span_id,
-- parent_span_id, template_id, params, message, fields, header, raw, error,
-- and for an archive the partition columns dt and hour — with `message`,
-- `fields`, `header` and `raw` rebuilt. Selecting `*` keeps the one SQL text
-- valid both for the archive (which has dt/hour) and for in-memory batches
-- (which do not).
SELECT t.* REPLACE (
    COALESCE(
        t.fields,
        entry_fields(
            t.raw, t.ts, t.level, t.message, t.service, t.host,
            t.trace_id, t.span_id, t.parent_span_id
        )
    ) AS fields
)
FROM (
    SELECT m.* REPLACE (
        fill_residual(m.header, m.ts, m.message, m.trace_id, m.span_id, m.parent_span_id)
            AS header,
        COALESCE(
            fill_residual(m.raw, m.ts, m.message, m.trace_id, m.span_id, m.parent_span_id),
            COALESCE(
                fill_residual(m.header, m.ts, m.message, m.trace_id, m.span_id, m.parent_span_id),
                ''
            ) || m.message
        ) AS raw
    )
    FROM (
        SELECT l.* REPLACE (
            COALESCE(l.message, render_message(tp.template, l.params, l.raw)) AS message
        )
        FROM logs_stored AS l
        LEFT JOIN templates AS tp ON tp.template_id = l.template_id
    ) AS m
) AS t
