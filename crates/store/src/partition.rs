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

/// Rows of one batch that belong to one partition: all of them, or the listed ones.
#[derive(Debug, Clone)]
pub(crate) struct Piece {
    pub(crate) batch: RecordBatch,
    /// The rows of `batch` in this piece, ascending; None: all of them.
    pub(crate) rows: Option<Arc<[u32]>>,
    /// All of `batch`, which shares no buffer with another piece: its
    /// `get_array_memory_size` is what the writer counted for it.
    pub(crate) compact: bool,
}

impl Piece {
    pub(crate) fn whole(batch: RecordBatch) -> Self {
        Self {
            batch,
            rows: None,
            compact: true,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.rows
            .as_ref()
            .map_or(self.batch.num_rows(), |rows| rows.len())
    }

    /// The first `n` rows and the rest, sharing the batch (no copy).
    pub(crate) fn split_at(self, n: usize) -> (Piece, Piece) {
        match self.rows {
            None => {
                let len = self.batch.num_rows();
                let slice = |at, n| Piece {
                    batch: self.batch.slice(at, n),
                    rows: None,
                    compact: false,
                };
                (slice(0, n), slice(n, len - n))
            }
            Some(rows) => (
                Piece {
                    batch: self.batch.clone(),
                    rows: Some(rows[..n].into()),
                    compact: false,
                },
                Piece {
                    batch: self.batch,
                    rows: Some(rows[n..].into()),
                    compact: false,
                },
            ),
        }
    }
}

/// Splits `batch` by the partition of its `ts` column (column `ts_index`).
///
/// A batch within one partition (the common case: consecutive log lines) is not copied. Else
/// the partition with the most rows keeps the batch with a list of its rows (no copy either),
/// and the other partitions' rows are copied out, so that no batch is kept alive by more than
/// one partition.
pub(crate) fn split_by_partition(
    batch: &RecordBatch,
    ts_index: usize,
) -> Result<Vec<(PartitionKey, Piece)>, StoreError> {
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
        return Ok(vec![(first, Piece::whole(batch.clone()))]);
    }

    let mut rows: BTreeMap<PartitionKey, Vec<u32>> = BTreeMap::new();
    for i in 0..ts.len() {
        let row = u32::try_from(i).map_err(|_| StoreError::SchemaMismatch {
            reason: "a batch may hold at most u32::MAX rows".into(),
        })?;
        rows.entry(key_at(i)).or_default().push(row);
    }
    // The largest partition keeps the whole batch with its row indices
    // (no copy) when it holds at least half of the rows. Otherwise every
    // partition gets a copy: a slice would keep the whole batch alive for a
    // few rows, and the writer's row bound would no longer bound memory (a
    // batch spread over many hours, out-of-order input).
    let largest = rows
        .iter()
        .max_by_key(|(_, indices)| indices.len())
        .filter(|(_, indices)| indices.len() * 2 >= ts.len())
        .map(|(key, _)| *key);
    rows.into_iter()
        .map(|(key, indices)| {
            if Some(key) == largest {
                let piece = Piece {
                    batch: batch.clone(),
                    rows: Some(indices.into()),
                    compact: false,
                };
                return Ok((key, piece));
            }
            let indices = UInt32Array::from(indices);
            Ok((key, Piece::whole(take_record_batch(batch, &indices)?)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts_batch(ts: Vec<Option<i64>>) -> RecordBatch {
        let ts = TimestampMicrosecondArray::from(ts).with_timezone("UTC");
        let schema = Arc::new(arrow_schema::Schema::new(vec![arrow_schema::Field::new(
            "ts",
            ts.data_type().clone(),
            true,
        )]));
        RecordBatch::try_new(schema, vec![Arc::new(ts)]).unwrap()
    }

    #[test]
    fn the_largest_partition_keeps_the_batch_and_the_others_are_copied() {
        let hour = MICROS_PER_HOUR;
        let batch = ts_batch(vec![Some(hour), None, Some(hour + 1), Some(hour + 2), None]);
        let parts = split_by_partition(&batch, 0).unwrap();
        assert_eq!(parts.len(), 2);
        let (key, kept) = &parts[0];
        assert_eq!(*key, PartitionKey::Hour(1));
        assert_eq!(kept.rows.as_deref(), Some(&[0, 2, 3][..]));
        assert_eq!(kept.batch.num_rows(), 5, "the whole batch, not a copy");
        let (key, copied) = &parts[1];
        assert_eq!(*key, PartitionKey::Unknown);
        assert_eq!((copied.rows.is_none(), copied.len()), (true, 2));
        assert_eq!(copied.batch.column(0).null_count(), 2);

        let (head, tail) = kept.clone().split_at(1);
        assert_eq!((head.len(), tail.len()), (1, 2));
        assert_eq!(tail.rows.as_deref(), Some(&[2, 3][..]));
        let whole = Piece::whole(batch.clone());
        let (head, tail) = whole.split_at(2);
        assert_eq!((head.len(), tail.len(), tail.batch.num_rows()), (2, 3, 3));

        let one = split_by_partition(&batch.slice(2, 2), 0).unwrap();
        assert_eq!(one.len(), 1);
        assert!(one[0].1.rows.is_none(), "one partition: the batch as it is");
    }

    /// A batch spread over many hours (out-of-order input) is copied per
    /// hour: no piece keeps the whole batch alive for a few of its rows.
    #[test]
    fn a_spread_batch_is_copied_whole() {
        let hour = MICROS_PER_HOUR;
        let ts = (0..10).map(|i| Some(i % 4 * hour)).collect();
        let parts = split_by_partition(&ts_batch(ts), 0).unwrap();
        assert_eq!(parts.len(), 4);
        for (_, piece) in &parts {
            assert!(piece.rows.is_none());
            assert_eq!(piece.batch.num_rows(), piece.len());
        }
        assert_eq!(parts.iter().map(|(_, p)| p.len()).sum::<usize>(), 10);
    }

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
