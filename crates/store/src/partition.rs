//! Hive-style `dt=YYYY-MM-DD/hour=HH` partitions derived from `ts`.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, TimestampMicrosecondArray, UInt32Array};
use arrow::compute::take_record_batch;
use arrow_array::RecordBatch;
use chrono::DateTime;

use crate::StoreError;

/// Name of the day partition column.
pub const DT: &str = "dt";
/// Name of the hour partition column.
pub const HOUR: &str = "hour";
/// Partition value for rows without a usable timestamp.
pub const UNKNOWN: &str = "unknown";

const MICROS_PER_HOUR: i64 = 3_600_000_000;

/// One partition: an hour of event time, or the bucket for rows without a timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum PartitionKey {
    /// Hours since the Unix epoch.
    Hour(i64),
    /// `ts` is null (or outside what a calendar date can express).
    Unknown,
}

impl PartitionKey {
    pub(crate) fn of(ts_micros: Option<i64>) -> Self {
        match ts_micros {
            Some(ts) => Self::Hour(ts.div_euclid(MICROS_PER_HOUR)),
            None => Self::Unknown,
        }
    }

    /// `(dt, hour)` partition values.
    pub(crate) fn values(self) -> (String, String) {
        let Self::Hour(hours) = self else {
            return (UNKNOWN.to_owned(), UNKNOWN.to_owned());
        };
        match hours
            .checked_mul(3600)
            .and_then(|secs| DateTime::from_timestamp(secs, 0))
        {
            Some(start) => (
                start.format("%Y-%m-%d").to_string(),
                start.format("%H").to_string(),
            ),
            // Years beyond ±262143 have no calendar date; keep the rows, in `unknown`.
            None => (UNKNOWN.to_owned(), UNKNOWN.to_owned()),
        }
    }

    /// Relative directory of the partition inside the table.
    pub(crate) fn directory(self) -> String {
        let (dt, hour) = self.values();
        format!("{DT}={dt}/{HOUR}={hour}")
    }
}

/// Splits `batch` into one batch per partition of its `ts` column (column `ts_index`).
pub(crate) fn split_by_partition(
    batch: &RecordBatch,
    ts_index: usize,
) -> Result<Vec<(PartitionKey, RecordBatch)>, StoreError> {
    let ts = batch
        .column(ts_index)
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .ok_or_else(|| StoreError::SchemaMismatch {
            reason: "column `ts` is not Timestamp(µs)".into(),
        })?;
    if ts.is_empty() {
        return Ok(Vec::new());
    }
    let key_at = |i: usize| PartitionKey::of(ts.is_valid(i).then(|| ts.value(i)));

    let first = key_at(0);
    if (1..ts.len()).all(|i| key_at(i) == first) {
        // The common case (a batch of consecutive log lines): no copy at all.
        return Ok(vec![(first, batch.clone())]);
    }

    let mut rows: BTreeMap<PartitionKey, Vec<u32>> = BTreeMap::new();
    for i in 0..ts.len() {
        let row = u32::try_from(i).map_err(|_| StoreError::SchemaMismatch {
            reason: "a batch may hold at most u32::MAX rows".into(),
        })?;
        rows.entry(key_at(i)).or_default().push(row);
    }
    rows.into_iter()
        .map(|(key, indices)| {
            let indices = Arc::new(UInt32Array::from(indices));
            Ok((key, take_record_batch(batch, indices.as_ref())?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_and_days_follow_utc() {
        // 2024-03-05T07:59:59.999999Z
        let ts = 1_709_625_599_999_999;
        assert_eq!(
            PartitionKey::of(Some(ts)).values(),
            ("2024-03-05".into(), "07".into())
        );
        assert_eq!(
            PartitionKey::of(Some(ts + 1)).directory(),
            "dt=2024-03-05/hour=08"
        );
    }

    #[test]
    fn before_the_epoch_rounds_down() {
        assert_eq!(
            PartitionKey::of(Some(-1)).values(),
            ("1969-12-31".into(), "23".into())
        );
    }

    #[test]
    fn null_and_absurd_timestamps_are_unknown() {
        assert_eq!(
            PartitionKey::of(None).directory(),
            "dt=unknown/hour=unknown"
        );
        assert_eq!(
            PartitionKey::of(Some(i64::MAX)).values(),
            (UNKNOWN.into(), UNKNOWN.into())
        );
        assert_eq!(
            PartitionKey::of(Some(i64::MIN)).values(),
            (UNKNOWN.into(), UNKNOWN.into())
        );
    }
}
