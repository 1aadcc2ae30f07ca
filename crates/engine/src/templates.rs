use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{
    ArrayRef, StringBuilder, TimestampMicrosecondBuilder, UInt64Builder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use logoscope_drain::{TemplateCatalog, TemplateInfo};

use crate::EngineError;

/// Schema of the `templates` table.
///
/// `template_id` is the id rows carry in `logs.template_id`; `parent_id` is
/// set when Drain later generalised the template into another one, and
/// `live_id` follows those links to the template that is current now.
pub fn templates_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::clone(SCHEMA.get_or_init(|| {
        Arc::new(Schema::new(vec![
            Field::new("template_id", DataType::UInt64, false),
            Field::new("template", DataType::Utf8, false),
            Field::new("first_seen", ts.clone(), true),
            Field::new("last_seen", ts, true),
            Field::new("count", DataType::UInt64, false),
            Field::new("parent_id", DataType::UInt64, true),
            Field::new("live_id", DataType::UInt64, false),
        ]))
    }))
}

/// One row per template ever issued, ordered by id; empty without a catalog.
pub(crate) fn templates_batch(
    catalog: Option<&TemplateCatalog>,
) -> Result<RecordBatch, EngineError> {
    // Keyed by id so that a catalog yielding an id twice cannot duplicate rows
    // of `logs` through the view's join.
    let infos: BTreeMap<u64, &TemplateInfo> = catalog
        .map(|c| c.templates().map(|t| (t.id, t)).collect())
        .unwrap_or_default();
    let n = infos.len();
    let mut id = UInt64Builder::with_capacity(n);
    let mut text = StringBuilder::with_capacity(n, infos.values().map(|t| t.template.len()).sum());
    let mut first = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut last = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut count = UInt64Builder::with_capacity(n);
    let mut parent = UInt64Builder::with_capacity(n);
    let mut live = UInt64Builder::with_capacity(n);
    for info in infos.values() {
        id.append_value(info.id);
        text.append_value(&info.template);
        first.append_option(info.first_seen);
        last.append_option(info.last_seen);
        count.append_value(info.count);
        parent.append_option(info.parent_id);
        live.append_value(catalog.map_or(info.id, |c| c.resolve(info.id)));
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(id.finish()),
        Arc::new(text.finish()),
        Arc::new(first.finish()),
        Arc::new(last.finish()),
        Arc::new(count.finish()),
        Arc::new(parent.finish()),
        Arc::new(live.finish()),
    ];
    Ok(RecordBatch::try_new(templates_schema(), columns)?)
}
