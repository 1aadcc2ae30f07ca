//! Generation memory must not grow with the corpus: a counting allocator
//! records the peak of live heap bytes while generating to a sink.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use logoscope_synth::{SynthConfig, generate};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn peak_extra(lines: u64) -> usize {
    let cfg = SynthConfig {
        overlong_bytes: 2048,
        ..SynthConfig::new(lines, 5)
    };
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let s = generate(&cfg, &mut std::io::sink(), &mut std::io::sink()).unwrap();
    assert_eq!(s.entries, lines);
    PEAK.load(Ordering::Relaxed) - base
}

// One test function only: the counters are process-global.
#[test]
fn peak_memory_does_not_grow_with_line_count() {
    let small = peak_extra(5_000);
    let large = peak_extra(100_000);
    // The counter must see the generator's own output buffers, or the
    // comparison below proves nothing.
    assert!(
        small > 256 * 1024,
        "peak {small} bytes: allocator not counting"
    );
    assert!(large < 2 * 1024 * 1024, "peak {large} bytes");
    assert!(
        large < small + 64 * 1024,
        "peak grew from {small} to {large} bytes with 20x the entries"
    );
}
