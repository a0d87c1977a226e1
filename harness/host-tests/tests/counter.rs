//! Tests of the hierarchical page counter (`kernel/cgroup/pins/counter.rs`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;

use pins_host_tests::counter::{self, uncharge, Level, Refusal, UNLIMITED};

/// The ceiling the kernel passes with 4 KiB pages: the most pages whose size
/// in bytes fits in 64 bits.
const CEILING: u64 = u64::MAX >> 12;

/// Charges as the kernel does with 4 KiB pages.
fn try_charge<'a, I>(levels: I, pages: u64) -> Result<(), Refusal>
where
    I: IntoIterator<Item = &'a Level>,
    I::IntoIter: Clone,
{
    counter::try_charge(levels, pages, CEILING)
}

/// Charges without a limit check as the kernel does with 4 KiB pages.
fn charge_unchecked<'a, I>(levels: I, pages: u64)
where
    I: IntoIterator<Item = &'a Level>,
{
    counter::charge_unchecked(levels, pages, CEILING)
}

/// Usage of every level, in order.
fn usages(levels: &[&Level]) -> Vec<u64> {
    levels.iter().map(|l| l.usage()).collect()
}

/// Peak of every level, in order.
fn peaks(levels: &[&Level]) -> Vec<u64> {
    levels.iter().map(|l| l.peak()).collect()
}

/// Asserts that a charge was refused by the limit of the level at position
/// `expected` of its chain.
#[track_caller]
fn assert_refused_by(result: Result<(), Refusal>, expected: usize) {
    assert_eq!(result, Err(Refusal::Limit(expected)));
}

#[test]
fn fresh_level_is_empty_and_unlimited() {
    let level = Level::new();
    assert_eq!(level.usage(), 0);
    assert_eq!(level.max(), UNLIMITED);
    assert_eq!(level.peak(), 0);

    let level = Level::default();
    assert_eq!(level.usage(), 0);
    assert_eq!(level.max(), UNLIMITED);
    assert_eq!(level.peak(), 0);
}

#[test]
fn single_level_charges_up_to_exactly_the_limit() {
    let level = Level::new();
    level.set_max(10);
    assert_eq!(level.max(), 10);

    assert!(try_charge([&level], 4).is_ok());
    assert!(try_charge([&level], 6).is_ok());
    assert_eq!(level.usage(), 10);

    assert_refused_by(try_charge([&level], 1), 0);
    assert_eq!(level.usage(), 10);
    assert_eq!(level.peak(), 10);

    // A charge that overshoots by more than one page is refused as a whole,
    // not partially applied.
    let other = Level::new();
    other.set_max(10);
    assert!(try_charge([&other], 7).is_ok());
    assert_refused_by(try_charge([&other], 4), 0);
    assert_eq!(other.usage(), 7);
}

#[test]
fn chain_refusal_names_the_tightest_level_and_is_all_or_nothing() {
    // For each level in turn being the tightest, fill it to its limit through
    // the full chain, then check that one more page is refused by that level
    // and that no level's usage moved.
    for tight in 0..3 {
        let child = Level::new();
        let parent = Level::new();
        let grandparent = Level::new();
        let chain = [&child, &parent, &grandparent];
        for (i, level) in chain.iter().enumerate() {
            level.set_max(if i == tight { 5 } else { 100 });
        }
        // Give the ancestors some usage of their own (through a sibling
        // chain) so that "unchanged" is not simply "zero".
        let sibling = Level::new();
        assert!(try_charge([&sibling, &parent, &grandparent], 2).is_ok());

        let room = chain[tight].max() - chain[tight].usage();
        assert!(try_charge(chain, room).is_ok(), "tight={tight}");
        assert_eq!(chain[tight].usage(), chain[tight].max());

        let before = usages(&chain);
        let peaks_before = peaks(&chain);
        assert_refused_by(try_charge(chain, 1), tight);
        assert_eq!(
            usages(&chain),
            before,
            "tight={tight}: charge not rolled back"
        );
        // The refusing level and everything above it were never raised.
        assert_eq!(
            peaks(&chain)[tight..],
            peaks_before[tight..],
            "tight={tight}: refused charge raised a peak"
        );

        // The sibling's charge is still there and still balanced.
        assert!(uncharge([&sibling, &parent, &grandparent], 2));
        assert!(uncharge(chain, room));
        assert_eq!(usages(&chain), [0, 0, 0], "tight={tight}");
    }
}

#[test]
fn chain_reports_the_first_refusing_level_when_several_would_refuse() {
    let child = Level::new();
    let parent = Level::new();
    let grandparent = Level::new();
    parent.set_max(3);
    grandparent.set_max(3);
    let chain = [&child, &parent, &grandparent];

    assert!(try_charge(chain, 3).is_ok());
    assert_refused_by(try_charge(chain, 1), 1);
    assert_eq!(usages(&chain), [3, 3, 3]);

    // With the parent relaxed, the grandparent is the one that refuses, after
    // child and parent were raised: both must be lowered again.
    parent.set_max(UNLIMITED);
    assert_refused_by(try_charge(chain, 2), 2);
    assert_eq!(usages(&chain), [3, 3, 3]);
}

#[test]
fn lowering_max_below_usage_blocks_charges_until_uncharged() {
    let child = Level::new();
    let parent = Level::new();
    let chain = [&child, &parent];
    assert!(try_charge(chain, 10).is_ok());

    parent.set_max(4);
    assert_eq!(parent.max(), 4);
    assert_eq!(
        usages(&chain),
        [10, 10],
        "set_max must not take anything back"
    );

    assert_refused_by(try_charge(chain, 1), 1);
    assert_eq!(usages(&chain), [10, 10]);

    // Still above the limit after uncharging some: still refused.
    assert!(uncharge(chain, 6));
    assert_eq!(usages(&chain), [4, 4]);
    assert_refused_by(try_charge(chain, 1), 1);

    // Below the limit again: charges within the room succeed.
    assert!(uncharge(chain, 2));
    assert!(try_charge(chain, 2).is_ok());
    assert_eq!(usages(&chain), [4, 4]);
    assert_refused_by(try_charge(chain, 1), 1);
}

#[test]
fn overflowing_charges_fail_cleanly_even_when_unlimited() {
    // A count that would overflow an existing usage.
    let level = Level::new();
    assert!(try_charge([&level], 1).is_ok());
    assert_eq!(try_charge([&level], u64::MAX), Err(Refusal::TooLarge));
    assert_eq!(level.usage(), 1);
    assert_eq!(level.peak(), 1);

    assert!(try_charge([&level], 1000).is_ok());
    assert_eq!(
        try_charge([&level], u64::MAX - 1000),
        Err(Refusal::TooLarge)
    );
    assert_eq!(level.usage(), 1001);

    // The ceiling through an all-unlimited chain whose ancestor already
    // holds a page: the child is raised first and must be rolled back when
    // the parent would pass the ceiling.
    let sibling = Level::new();
    let child = Level::new();
    let parent = Level::new();
    let grandparent = Level::new();
    assert!(try_charge([&sibling, &parent, &grandparent], 1).is_ok());
    let chain = [&child, &parent, &grandparent];
    assert_eq!(try_charge(chain, CEILING), Err(Refusal::TooLarge));
    assert_eq!(usages(&chain), [0, 1, 1]);
    assert_eq!(peaks(&chain), [0, 1, 1]);
    assert_eq!(sibling.usage(), 1);
}

#[test]
fn usage_stops_at_the_ceiling_whose_bytes_fit_in_64_bits() {
    // 2^52 pages of 4 KiB are 2^64 bytes: one page more than fits.
    let level = Level::new();
    assert_eq!(try_charge([&level], 1 << 52), Err(Refusal::TooLarge));
    assert_eq!((level.usage(), level.peak()), (0, 0));

    // The ceiling itself fits, exactly, and then nothing more does.
    assert!(try_charge([&level], CEILING).is_ok());
    assert_eq!(level.usage(), CEILING);
    assert_eq!(level.peak(), CEILING);
    assert_eq!(level.usage() << 12, u64::MAX - 4095, "bytes are exact");
    assert_eq!(try_charge([&level], 1), Err(Refusal::TooLarge));
    assert!(uncharge([&level], CEILING));

    // Two halves that each fit but not together.
    let half = 1 << 51;
    assert!(try_charge([&level], half).is_ok());
    assert_eq!(try_charge([&level], half), Err(Refusal::TooLarge));
    assert_eq!(level.usage(), half);

    // A limit above the ceiling does not lift it.
    let limited = Level::new();
    limited.set_max(u64::MAX - 1);
    assert_eq!(try_charge([&limited], CEILING + 1), Err(Refusal::TooLarge));
    assert_eq!(limited.usage(), 0);
}

#[test]
fn a_charge_refused_by_an_ancestor_raises_no_peak() {
    let child = Level::new();
    let parent = Level::new();
    parent.set_max(8);
    let chain = [&child, &parent];

    assert_refused_by(try_charge(chain, 9), 1);
    assert_eq!(peaks(&chain), [0, 0], "the child never held 9 pages");
    assert_eq!(child.local_peak(), 0);

    assert!(try_charge(chain, 8).is_ok());
    assert_eq!(peaks(&chain), [8, 8]);
    assert!(uncharge(chain, 8));
    assert_refused_by(try_charge(chain, 9), 1);
    assert_eq!(peaks(&chain), [8, 8]);
}

#[test]
fn zero_pages_fit_a_level_above_its_limit() {
    let child = Level::new();
    let parent = Level::new();
    let chain = [&child, &parent];
    assert!(try_charge(chain, 5).is_ok());
    parent.set_max(2);
    assert_eq!(try_charge(chain, 0), Ok(()));
    assert_eq!(usages(&chain), [5, 5]);
    assert_refused_by(try_charge(chain, 1), 1);
}

/// Chargers race a writer that lowers the limit; a charge accepted after the
/// write returned must not take the usage above the new limit. With the
/// limit read once before the compare-and-exchange, a charger that read the
/// old limit commits after the write; this test saw that happen.
#[test]
fn no_charge_passes_a_limit_lowered_before_it() {
    const ROUNDS: usize = 2000;
    const CHARGERS: usize = 4;
    let mut late = 0;
    for round in 0..ROUNDS {
        let child = Level::new();
        let parent = Level::new();
        let chain = [&child, &parent];
        let start = AtomicBool::new(false);
        let stop = AtomicBool::new(false);
        let low = 8 + (round % 8) as u64;
        let mut after = 0;
        thread::scope(|s| {
            for _ in 0..CHARGERS {
                s.spawn(|| {
                    while !start.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                    while !stop.load(Ordering::Relaxed) {
                        let _ = try_charge(chain, 1);
                    }
                });
            }
            start.store(true, Ordering::Relaxed);
            while parent.usage() < low / 2 {
                std::hint::spin_loop();
            }
            parent.set_max(low);
            // Everything accepted before the write is in this reading.
            after = parent.usage();
            // Let the chargers run into the new limit.
            for _ in 0..2000 {
                std::hint::spin_loop();
            }
            stop.store(true, Ordering::Relaxed);
        });
        if parent.usage() > low.max(after) {
            late += 1;
        }
        // A peak may include, for an instant, the one page each charger
        // has in flight, being refused.
        assert!(parent.peak() <= low.max(after) + CHARGERS as u64);
    }
    assert_eq!(late, 0, "charges accepted past a limit lowered before them");
}

#[test]
fn charge_unchecked_ignores_limits_and_saturates() {
    let child = Level::new();
    let parent = Level::new();
    child.set_max(2);
    parent.set_max(1);
    let chain = [&child, &parent];

    charge_unchecked(chain, 5);
    assert_eq!(usages(&chain), [5, 5], "unchecked charges ignore the limit");
    assert_eq!(peaks(&chain), [5, 5]);
    assert_refused_by(try_charge(chain, 1), 0);

    charge_unchecked(chain, CEILING - 10);
    assert_eq!(usages(&chain), [CEILING - 5, CEILING - 5]);

    charge_unchecked(chain, 100);
    assert_eq!(
        usages(&chain),
        [CEILING, CEILING],
        "must saturate at the ceiling, not wrap"
    );
    assert_eq!(peaks(&chain), [CEILING, CEILING]);

    charge_unchecked(chain, u64::MAX);
    assert_eq!(usages(&chain), [CEILING, CEILING]);
}

#[test]
fn uncharging_more_than_charged_reports_and_clamps_at_zero() {
    let child = Level::new();
    let parent = Level::new();
    let grandparent = Level::new();
    let chain = [&child, &parent, &grandparent];

    assert!(try_charge(chain, 3).is_ok());
    // The parent and grandparent also hold a sibling's pages.
    let sibling = Level::new();
    assert!(try_charge([&sibling, &parent, &grandparent], 10).is_ok());

    // 5 > child's 3: unbalanced, child clamped to 0, ancestors lowered by 5.
    assert!(!uncharge(chain, 5));
    assert_eq!(usages(&chain), [0, 8, 8]);

    // Uncharging an empty level does not wrap.
    assert!(!uncharge([&child], 1));
    assert_eq!(child.usage(), 0);
    assert!(!uncharge([&child], u64::MAX));
    assert_eq!(child.usage(), 0);

    // Balanced uncharges return true and bring every level back to 0.
    assert!(uncharge([&sibling, &parent, &grandparent], 8));
    assert_eq!(usages(&[&sibling, &parent, &grandparent]), [2, 0, 0]);

    let a = Level::new();
    let b = Level::new();
    let c = Level::new();
    assert!(try_charge([&a, &b, &c], 7).is_ok());
    assert!(try_charge([&a, &b, &c], 9).is_ok());
    assert!(uncharge([&a, &b, &c], 9));
    assert!(uncharge([&a, &b, &c], 7));
    assert_eq!(usages(&[&a, &b, &c]), [0, 0, 0]);
    assert!(uncharge([&a, &b, &c], 0), "uncharging nothing is balanced");
}

#[test]
fn peak_tracks_the_maximum_and_ignores_refusals() {
    let level = Level::new();
    level.set_max(20);

    assert!(try_charge([&level], 5).is_ok());
    assert_eq!(level.peak(), 5);
    assert!(try_charge([&level], 7).is_ok());
    assert_eq!(level.peak(), 12);

    assert!(uncharge([&level], 10));
    assert_eq!(level.usage(), 2);
    assert_eq!(level.peak(), 12, "peak must not drop on uncharge");

    assert!(try_charge([&level], 4).is_ok());
    assert_eq!(level.peak(), 12, "usage 6 is below the peak");

    assert_refused_by(try_charge([&level], 15), 0);
    assert_eq!(level.peak(), 12, "a refused charge must not raise the peak");

    assert!(try_charge([&level], 14).is_ok());
    assert_eq!(level.usage(), 20);
    assert_eq!(level.peak(), 20);
    assert!(uncharge([&level], 20));
    assert_eq!(level.peak(), 20);
}

#[test]
fn a_new_high_at_any_level_is_recorded_there() {
    let (a, b, c) = (Level::new(), Level::new(), Level::new());
    let (parent, top) = (Level::new(), Level::new());

    assert!(try_charge([&a, &parent, &top], 10).is_ok());
    assert!(uncharge([&a, &parent, &top], 10));
    assert!(try_charge([&b, &parent, &top], 8).is_ok());
    assert_eq!(peaks(&[&a, &b, &parent, &top]), [10, 8, 10, 10]);

    // 5 in `a` is below its peak; `parent` and `top` reach 13.
    assert!(try_charge([&a, &parent, &top], 5).is_ok());
    assert_eq!(peaks(&[&a, &parent, &top]), [10, 13, 13]);
    assert!(uncharge([&a, &parent, &top], 5));

    // `c` charges `top` alone to 18; then only `top` reaches a new high.
    assert!(try_charge([&c, &top], 10).is_ok());
    assert!(try_charge([&a, &parent, &top], 3).is_ok());
    assert_eq!(usages(&[&a, &parent, &top]), [3, 11, 21]);
    assert_eq!(peaks(&[&a, &parent, &top]), [10, 13, 21]);

    // After a reset at 11, 12 is a new high of `top`'s local peak only.
    assert!(uncharge([&c, &top], 10));
    assert_eq!(top.reset_local_peak(), (21, 11));
    assert!(try_charge([&a, &parent, &top], 1).is_ok());
    assert_eq!(usages(&[&a, &parent, &top]), [4, 12, 12]);
    assert_eq!((top.local_peak(), top.peak()), (12, 21));
    assert_eq!(peaks(&[&a, &parent]), [10, 13]);
}

#[test]
fn zero_page_charge_succeeds_and_changes_nothing() {
    let child = Level::new();
    let parent = Level::new();
    parent.set_max(0);
    let chain = [&child, &parent];

    assert!(
        try_charge(chain, 0).is_ok(),
        "zero pages fit even a zero limit"
    );
    assert_eq!(usages(&chain), [0, 0]);
    assert_eq!(peaks(&chain), [0, 0]);
    assert_refused_by(try_charge(chain, 1), 1);

    parent.set_max(5);
    assert!(try_charge(chain, 5).is_ok());
    assert!(try_charge(chain, 0).is_ok(), "zero pages fit a full level");
    assert_eq!(usages(&chain), [5, 5]);

    // An empty chain accepts anything: there is nothing to refuse.
    assert!(try_charge(core::iter::empty::<&Level>(), 3).is_ok());
}

#[test]
fn siblings_share_the_parent_limit() {
    let left = Level::new();
    let right = Level::new();
    let parent = Level::new();
    parent.set_max(10);

    assert!(try_charge([&left, &parent], 6).is_ok());
    assert_refused_by(try_charge([&right, &parent], 5), 1);
    assert_eq!(right.usage(), 0, "the refused sibling was rolled back");
    assert!(try_charge([&right, &parent], 4).is_ok());
    assert_eq!((left.usage(), right.usage(), parent.usage()), (6, 4, 10));
    assert_refused_by(try_charge([&left, &parent], 1), 1);

    assert!(uncharge([&left, &parent], 6));
    assert!(try_charge([&right, &parent], 6).is_ok());
    assert_eq!((left.usage(), right.usage(), parent.usage()), (0, 10, 10));
}

/// A tiny xorshift64 PRNG: enough to vary charge sizes, no crates.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

#[test]
fn concurrent_charges_never_exceed_any_limit() {
    const WORKERS: usize = 8;
    const ITERATIONS: u64 = 200_000;
    const MAX_ROUNDS: u64 = 20;

    // Two leaves under a parent under a grandparent, plus an unlimited
    // second branch under the grandparent so that the grandparent's limit
    // binds too (the first branch alone is capped by the parent at 70).
    let leaves = [Level::new(), Level::new()];
    let parent = Level::new();
    let grandparent = Level::new();
    let other_leaf = Level::new();
    let other_parent = Level::new();
    leaves[0].set_max(50);
    leaves[1].set_max(50);
    parent.set_max(70);
    grandparent.set_max(90);

    let all: [&Level; 6] = [
        &leaves[0],
        &leaves[1],
        &parent,
        &grandparent,
        &other_leaf,
        &other_parent,
    ];
    // Workers 0..=5 alternate between the two leaves, 6 and 7 use the
    // other branch.
    let chain_of = |w: usize| -> [&Level; 3] {
        if w >= 6 {
            [&other_leaf, &other_parent, &grandparent]
        } else {
            [&leaves[w % 2], &parent, &grandparent]
        }
    };

    let done = AtomicBool::new(false);
    let violations = AtomicU64::new(0);
    let observations = AtomicU64::new(0);
    let charged = AtomicU64::new(0);
    let unbalanced = AtomicU64::new(0);
    // Refusals by each level of `all`.
    let refused: [AtomicU64; 6] = Default::default();

    // Whether every limited level gets to refuse depends on how the
    // scheduler interleaves the two branches: run more rounds until each
    // has (a round takes well under a second).
    let mut rounds = 0;
    while rounds < MAX_ROUNDS {
        rounds += 1;
        done.store(false, Ordering::Relaxed);
        thread::scope(|s| {
            s.spawn(|| {
                let mut seen = 0;
                while !done.load(Ordering::Relaxed) {
                    for level in all {
                        if level.usage() > level.max() || level.peak() > level.max() {
                            violations.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    seen += 1;
                }
                observations.fetch_add(seen, Ordering::Relaxed);
            });

            let workers: Vec<_> = (0..WORKERS)
                .map(|w| {
                    let chain = chain_of(w);
                    let (all, refused) = (&all, &refused);
                    let (charged, unbalanced) = (&charged, &unbalanced);
                    s.spawn(move || {
                        let mut rng =
                            XorShift(0x9E37_79B9_7F4A_7C15 ^ (w as u64 + 1) << 32 ^ rounds);
                        let mut held = Vec::with_capacity(8);
                        let release = |held: &mut Vec<u64>| {
                            for pages in held.drain(..) {
                                if !uncharge(chain, pages) {
                                    unbalanced.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        };
                        let mut ok = 0;
                        for _ in 0..ITERATIONS {
                            let r = rng.next();
                            let pages = 1 + (r & 7);
                            match try_charge(chain, pages) {
                                Ok(()) => {
                                    ok += 1;
                                    held.push(pages);
                                }
                                Err(Refusal::Limit(depth)) => {
                                    let level = chain[depth];
                                    let i =
                                        all.iter().position(|l| std::ptr::eq(*l, level)).unwrap();
                                    refused[i].fetch_add(1, Ordering::Relaxed);
                                }
                                Err(Refusal::TooLarge) => panic!("a small charge was too large"),
                            }
                            // Hold between one and eight charges before releasing.
                            if held.len() > ((r >> 8) & 7) as usize {
                                release(&mut held);
                            }
                        }
                        release(&mut held);
                        charged.fetch_add(ok, Ordering::Relaxed);
                    })
                })
                .collect();
            for worker in workers {
                worker.join().unwrap();
            }
            done.store(true, Ordering::Relaxed);
        });
        if refused[..4].iter().all(|r| r.load(Ordering::Relaxed) > 0) {
            break;
        }
    }

    let refused: Vec<u64> = refused.iter().map(|r| r.load(Ordering::Relaxed)).collect();
    let ok = charged.load(Ordering::Relaxed);
    let observations = observations.load(Ordering::Relaxed);
    eprintln!(
        "{rounds} rounds: charged {ok}, refused by level {refused:?}, observations {observations}"
    );

    assert_eq!(
        violations.load(Ordering::Relaxed),
        0,
        "usage or peak above max"
    );
    assert!(observations > 0, "the observer never ran");
    assert_eq!(unbalanced.load(Ordering::Relaxed), 0, "unbalanced uncharge");
    assert_eq!(
        ok + refused.iter().sum::<u64>(),
        WORKERS as u64 * ITERATIONS * rounds
    );
    assert!(ok > 0, "no charge succeeded: the test proves nothing");
    // Every limited level refused some charges, so every limit was tested.
    for (i, &n) in refused[..4].iter().enumerate() {
        assert!(n > 0, "level {i} never refused: limit never reached");
    }
    assert_eq!(refused[4] + refused[5], 0, "unlimited levels refused");
    for (i, level) in all.iter().enumerate() {
        assert!(level.peak() <= level.max(), "level {i}: peak above max");
        assert_eq!(level.usage(), 0, "level {i}: usage left behind");
    }
}

#[test]
fn local_peak_restarts_from_usage_on_reset() {
    let child = Level::new();
    let parent = Level::new();
    let chain = [&child, &parent];

    assert!(try_charge(chain, 5).is_ok());
    assert!(uncharge(chain, 3));
    assert_eq!(child.local_peak(), 5);

    // The reset hands back the old local peak and restarts from usage.
    assert_eq!(child.reset_local_peak(), (5, 2));
    assert_eq!(child.local_peak(), 2);
    assert_eq!(child.peak(), 5);
    // Only the reset level restarts.
    assert_eq!(parent.local_peak(), 5);

    assert!(try_charge(chain, 1).is_ok());
    assert_eq!(child.local_peak(), 3);
    assert!(uncharge(chain, 3));
    assert_eq!(child.local_peak(), 3);
    assert_eq!(child.peak(), 5);

    // A refused charge does not raise the refusing level's local peak.
    child.set_max(3);
    assert!(try_charge(chain, 4).is_err());
    assert_eq!(child.local_peak(), 3);

    // Forced charges count too.
    charge_unchecked(chain, 7);
    assert_eq!(child.local_peak(), 7);
    assert_eq!(child.peak(), 7);
}

#[test]
fn local_peak_is_never_above_peak_so_one_comparison_records_both() {
    let level = Level::new();
    assert!(try_charge([&level], 5).is_ok());
    assert!(uncharge([&level], 5));
    assert_eq!(level.reset_local_peak(), (5, 0));
    assert!(try_charge([&level], 3).is_ok());
    assert_eq!((level.local_peak(), level.peak()), (3, 5));
    // Above the local peak but within the peak: only the local peak moves.
    assert!(try_charge([&level], 1).is_ok());
    assert_eq!((level.local_peak(), level.peak()), (4, 5));
    // Above both: both move.
    assert!(try_charge([&level], 2).is_ok());
    assert_eq!((level.local_peak(), level.peak()), (6, 6));

    // Resets race with charges whose peaks are not recorded yet: the local
    // peak must still never pass the peak, or a later usage between the two
    // would go unrecorded in the peak. Nothing is returned, so the final
    // usage is the highest, and the peak must be it.
    let level = Level::new();
    let stop = AtomicBool::new(false);
    let started = AtomicU64::new(0);
    thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                started.fetch_add(1, Ordering::Relaxed);
                // Every charge reaches a new high, which a reset may see
                // before its peaks are recorded.
                while !stop.load(Ordering::Relaxed) {
                    assert!(try_charge([&level], 1).is_ok());
                }
            });
        }
        while started.load(Ordering::Relaxed) < 3 {
            thread::yield_now();
        }
        let mut above = None;
        for _ in 0..2_000_000 {
            level.reset_local_peak();
            // The peak only grows, so reading it second is safe.
            let (local, peak) = (level.local_peak(), level.peak());
            if local > peak {
                above = Some((local, peak));
                break;
            }
        }
        stop.store(true, Ordering::Relaxed);
        assert_eq!(above, None, "local peak above the peak");
    });
    assert_eq!(level.peak(), level.usage());
}
