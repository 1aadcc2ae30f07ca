-- logs: the stored log rows as readers expect them, with every text the
-- archive left out put back (table schema v3).
--
-- The archive stores some values in a cheaper exact form (see
-- logoscope_ingest::stored); the innermost query turns them back:
--   ts       in milliseconds, plus ts_us (µs within the ms): stored_ts;
--   ids      lowercase hex ids as bytes (trace_id_bytes, ...): stored_id;
--   params   one column per position (paramK text, paramK_int integers),
--            params holding the rest: stored_params.
-- Those extra columns are left out of the view.
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
--            its value (rows written by older parsing rules lose nothing);
--            '{}' when the entry has no fields and was parsed with other
--            time keys than the default (a parse would find some): null.
-- Each level of the query needs the one before: stored forms, then message,
-- then the texts, then fields from the rebuilt text.
-- The join is a LEFT JOIN on the ingest-time template id (every id ever
-- issued keeps its text in `templates`), so no row is lost; if a template were
-- ever missing, the rebuilt columns stay null rather than being guessed (`||`,
-- not `concat`, because concat would silently drop the missing message).
--
-- Parameters: none. Reads `logs_stored` (the table as stored) and `templates`.
--
-- Output columns: the `logs` columns of `logs_stored`, in stored order and under
-- their stored names — ts, source, line, level, service, host, trace_id, span_id,
-- parent_span_id, template_id, params, message, fields, header, raw, error,
-- and for an archive the partition columns dt and hour — with `ts`, the ids,
-- `params`, `message`, `fields`, `header` and `raw` rebuilt. Selecting `*` keeps the one SQL text
-- valid both for the archive (which has dt/hour) and for in-memory batches
-- (which do not).
SELECT t.* REPLACE (
    CASE WHEN t.fields = '{}' THEN NULL ELSE COALESCE(
        t.fields,
        entry_fields(
            t.raw, t.ts, t.level, t.message, t.service, t.host,
            t.trace_id, t.span_id, t.parent_span_id
        )
    ) END
        AS fields
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
        FROM (
            SELECT s.* EXCLUDE (
                ts_us, trace_id_bytes, span_id_bytes, parent_span_id_bytes,
                param0, param0_int, param1, param1_int, param2, param2_int,
                param3, param3_int, param4, param4_int, param5, param5_int,
                param6, param6_int, param7, param7_int
            ) REPLACE (
                stored_ts(s.ts, s.ts_us) AS ts,
                stored_id(s.trace_id, s.trace_id_bytes) AS trace_id,
                stored_id(s.span_id, s.span_id_bytes) AS span_id,
                stored_id(s.parent_span_id, s.parent_span_id_bytes) AS parent_span_id,
                stored_params(
                    s.params,
                    s.param0, s.param0_int, s.param1, s.param1_int,
                    s.param2, s.param2_int, s.param3, s.param3_int,
                    s.param4, s.param4_int, s.param5, s.param5_int,
                    s.param6, s.param6_int, s.param7, s.param7_int
                ) AS params
            )
            FROM logs_stored AS s
        ) AS l
        LEFT JOIN templates AS tp ON tp.template_id = l.template_id
    ) AS m
) AS t
