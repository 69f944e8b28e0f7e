//! What a cache hit costs where the entry is, against what it would cost to ask
//! the thread that owns the key (the measurement behind `cache`'s design: every
//! thread keeps its own entries, validity is shared through the epoch table).
//!
//! `cargo bench --bench cache` (add `-- --quick` for a fast look).

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use hotcache::cache::Epochs;
use hotcache::cache::store::{Fill, Lookup, Store};
use hotcache::shard::{ShardHandle, run_inbox};
use tokio::sync::oneshot;

thread_local! {
    /// The owner thread's store.
    static OWNED: std::cell::RefCell<Option<(Store, Epochs)>> = const { std::cell::RefCell::new(None) };
}

fn insert(store: &mut Store, epochs: &Epochs, key: &[u8]) {
    let reply = Bytes::from(vec![b'x'; 64]);
    let fill = Fill {
        reply: &reply,
        stamp: epochs.stamp(key),
        expires: Instant::now() + Duration::from_secs(3600),
        negative: false,
    };
    store.insert(key, fill, epochs, Instant::now(), None, |_| Some(0));
}

fn bench(c: &mut Criterion) {
    let epochs = Epochs::new(18);
    let key = b"\x02\x00\x00key:000000000042".to_vec();
    let mut store = Store::new(64 << 20);
    insert(&mut store, &epochs, &key);

    let mut g = c.benchmark_group("cache_hit");
    g.bench_function("local_lookup", |b| {
        b.iter(|| {
            let now = Instant::now();
            match store.get(black_box(&key), &epochs, now) {
                Lookup::Hit { reply, .. } => black_box(reply),
                Lookup::Miss => panic!("miss"),
            }
        })
    });

    // The owner thread: a current-thread runtime draining its inbox, as a shard.
    let (handle, inbox) = ShardHandle::new(1);
    let owner = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, run_inbox(inbox));
    });
    // The owner's store lives on the owner thread, as a shard's would.
    let k = key.clone();
    handle.run(move || {
        let epochs = Epochs::new(18);
        let mut store = Store::new(64 << 20);
        insert(&mut store, &epochs, &k);
        OWNED.with(|o| *o.borrow_mut() = Some((store, epochs)));
    });
    g.bench_function("hop_to_owner_thread", |b| {
        b.iter(|| {
            let (tx, rx) = oneshot::channel();
            let key = key.clone();
            handle.run(move || {
                let hit = OWNED.with(|o| {
                    let mut o = o.borrow_mut();
                    let (store, epochs) = o.as_mut()?;
                    match store.get(&key, epochs, Instant::now()) {
                        Lookup::Hit { reply, .. } => Some(reply),
                        Lookup::Miss => None,
                    }
                });
                let _ = tx.send(hit);
            });
            assert!(rx.blocking_recv().expect("reply").is_some());
        })
    });
    g.finish();
    drop(handle);
    let _ = owner.join();
}

criterion_group!(benches, bench);
criterion_main!(benches);
