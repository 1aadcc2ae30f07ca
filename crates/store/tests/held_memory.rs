//! What the writer counts against `max_buffered_bytes` is what its buffers really hold, measured
//! with a counting allocator (this test binary's own).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use common::{HOUR, T0, batch, rows};
use logoscope_store::{Archive, ArchiveOptions};

struct Counting;

static HELD: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        HELD.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        HELD.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        HELD.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Rows buffered `per_hour` to an hour (one piece per hour and batch): the heap the buffers
/// grow by, and the bytes the writer counts for them.
async fn held(per_hour: usize, batches: usize) -> (isize, usize) {
    let archive = Archive::open(&format!("memory://held-{per_hour}"))
        .await
        .unwrap();
    let options = ArchiveOptions {
        max_buffered_rows: usize::MAX / 2,
        max_buffered_bytes: usize::MAX / 2,
        idle_flush_rows: 0,
        ..ArchiveOptions::default()
    };
    let mut writer = archive.writer(options).await.unwrap();
    let n = 4096;
    let input: Vec<_> = (0..batches)
        .map(|b| {
            let hours = (n / per_hour) as i64;
            batch(&rows(T0 + b as i64 * hours * HOUR, n, hours, 0))
        })
        .collect();
    let before = HELD.load(Ordering::Relaxed);
    for b in &input {
        writer.write(b.clone()).await.unwrap();
    }
    let after = HELD.load(Ordering::Relaxed);
    let counted = writer.buffered_bytes();
    drop(writer);
    (after - before, counted)
}

/// Rows spread over many hours are held as many small pieces, each with the fixed cost of its
/// arrays: the count covers it, so `max_buffered_bytes` bounds the real heap (the count may be
/// higher: a piece's share of a dictionary is counted whole).
#[tokio::test(flavor = "current_thread")]
async fn buffered_bytes_count_at_least_what_the_buffers_hold() {
    for per_hour in [1, 8, 64] {
        let (real, counted) = held(per_hour, 4).await;
        assert!(real > 0, "{per_hour} rows per hour: nothing held");
        assert!(
            counted as isize >= real && (counted as isize) < 4 * real,
            "{per_hour} rows per hour: {real} bytes held, {counted} counted"
        );
    }
}
