//! Sharing the NVDEC engines between decode sessions.
//!
//! A Hopper card has 7 NVDEC engines (an L4 has 4, a T4 2). The driver
//! places each session on an engine; more sessions than engines time-slice
//! and every one slows down, and each costs device memory for its surfaces.
//! So a node holds at most one decode session per engine: every session
//! (ours, or FFmpeg's cuvid) first takes a lease on a slot of the node's
//! [`EnginePool`], blocking while all are taken, and gives it back when the
//! session ends. All work on the node (every compose job, every frame
//! extraction) shares the one pool, so several jobs never oversubscribe the
//! engines.
//!
//! Slot `i` stands for engine `i` in the accounting: a lease takes the
//! free slot that has been used least, so with a pool as large as the
//! engine count the load spreads the way the driver spreads sessions. Each
//! slot counts its sessions, the frames decoded under it and the seconds it
//! was held ([`EngineUse`]), which render reports in `Capabilities` and as
//! metrics.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// One slot's use so far.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct EngineUse {
    /// The slot (engine) index.
    pub engine: u32,
    /// True while a session holds it.
    pub busy: bool,
    /// Sessions that held it.
    pub sessions: u64,
    /// Frames decoded under it.
    pub frames: u64,
    /// Seconds it was held, the current lease included.
    pub busy_seconds: f64,
}

#[derive(Debug, Default)]
struct Slot {
    since: Option<Instant>,
    sessions: u64,
    frames: u64,
    held: Duration,
}

#[derive(Debug, Default)]
struct Slots {
    /// Slots that may be leased now (the first `limit` of `all`).
    limit: usize,
    all: Vec<Slot>,
    /// Leases waited for so far, and for how long in all.
    waits: u64,
    waited: Duration,
    /// Sessions holding a slot now, and the most there ever were at once.
    busy: usize,
    peak: usize,
}

impl Slots {
    fn free(&self) -> Option<usize> {
        self.all
            .iter()
            .take(self.limit)
            .enumerate()
            .filter(|(_, s)| s.since.is_none())
            .min_by_key(|(i, s)| (s.sessions, *i))
            .map(|(i, _)| i)
    }
}

/// Called with each event, for metrics: the slot, and what happened.
pub type Observer = dyn Fn(u32, EngineEvent) + Send + Sync;

/// What happened to a slot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EngineEvent {
    /// A session took it, after waiting this long.
    Taken {
        /// How long the lease waited for a free slot.
        waited: Duration,
    },
    /// The session ended, having held it this long and decoded these frames.
    Released {
        /// How long the session held it.
        held: Duration,
        /// Frames decoded under this lease.
        frames: u64,
    },
}

struct Shared {
    slots: Mutex<Slots>,
    freed: Condvar,
    observer: Option<Box<Observer>>,
}

/// The node's NVDEC slots. Cheap to clone (shared).
#[derive(Clone)]
pub struct EnginePool {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for EnginePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnginePool")
            .field("limit", &self.limit())
            .finish()
    }
}

impl EnginePool {
    /// A pool of `size` slots (at least one).
    pub fn new(size: usize) -> Self {
        Self::build(size, None)
    }

    /// A pool that tells `observer` of every lease taken and given back.
    pub fn observed(size: usize, observer: Box<Observer>) -> Self {
        Self::build(size, Some(observer))
    }

    fn build(size: usize, observer: Option<Box<Observer>>) -> Self {
        let size = size.max(1);
        Self {
            shared: Arc::new(Shared {
                slots: Mutex::new(Slots {
                    limit: size,
                    all: (0..size).map(|_| Slot::default()).collect(),
                    ..Slots::default()
                }),
                freed: Condvar::new(),
                observer,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        // A panic while holding the lock leaves plain counters: still usable.
        self.shared
            .slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How many sessions may run at once.
    pub fn limit(&self) -> usize {
        self.lock().limit
    }

    /// Changes how many sessions may run at once (at least one). Sessions
    /// already past the new limit finish; no new one starts until the
    /// count is under it.
    pub fn set_limit(&self, size: usize) {
        let size = size.max(1);
        let mut slots = self.lock();
        while slots.all.len() < size {
            slots.all.push(Slot::default());
        }
        slots.limit = size;
        drop(slots);
        self.shared.freed.notify_all();
    }

    /// Takes a slot, waiting while every one is busy.
    pub fn acquire(&self) -> EngineLease {
        let started = Instant::now();
        let mut slots = self.lock();
        let mut waited = false;
        let index = loop {
            if let Some(i) = slots.free() {
                break i;
            }
            waited = true;
            slots = self
                .shared
                .freed
                .wait(slots)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        };
        let waited = if waited {
            let w = started.elapsed();
            slots.waits += 1;
            slots.waited += w;
            w
        } else {
            Duration::ZERO
        };
        let now = Instant::now();
        slots.busy += 1;
        slots.peak = slots.peak.max(slots.busy);
        let slot = &mut slots.all[index];
        slot.since = Some(now);
        slot.sessions += 1;
        drop(slots);
        if let Some(observe) = &self.shared.observer {
            observe(index as u32, EngineEvent::Taken { waited });
        }
        EngineLease {
            pool: self.clone(),
            index,
            since: now,
            frames: 0,
        }
    }

    /// Takes a slot if one is free now.
    pub fn try_acquire(&self) -> Option<EngineLease> {
        let slots = self.lock();
        slots.free()?;
        drop(slots);
        // Another thread may take it in between: then this waits briefly.
        Some(self.acquire())
    }

    /// Each slot's use so far (all slots ever made, busy ones first within
    /// the limit's order).
    pub fn usage(&self) -> Vec<EngineUse> {
        let slots = self.lock();
        slots
            .all
            .iter()
            .enumerate()
            .map(|(i, s)| EngineUse {
                engine: i as u32,
                busy: s.since.is_some(),
                sessions: s.sessions,
                frames: s.frames,
                busy_seconds: (s.held + s.since.map(|t| t.elapsed()).unwrap_or_default())
                    .as_secs_f64(),
            })
            .collect()
    }

    /// The most sessions that ever held a slot at once.
    pub fn peak(&self) -> usize {
        self.lock().peak
    }

    /// Leases that had to wait for a slot, and how long they waited in all.
    pub fn waits(&self) -> (u64, Duration) {
        let slots = self.lock();
        (slots.waits, slots.waited)
    }

    fn release(&self, index: usize, since: Instant, frames: u64) {
        let held = since.elapsed();
        let mut slots = self.lock();
        slots.busy = slots.busy.saturating_sub(1);
        if let Some(slot) = slots.all.get_mut(index) {
            slot.since = None;
            slot.held += held;
            slot.frames += frames;
        }
        drop(slots);
        self.shared.freed.notify_one();
        if let Some(observe) = &self.shared.observer {
            observe(index as u32, EngineEvent::Released { held, frames });
        }
    }
}

/// A slot held by one decode session; given back on drop.
#[derive(Debug)]
pub struct EngineLease {
    pool: EnginePool,
    index: usize,
    since: Instant,
    frames: u64,
}

impl EngineLease {
    /// The slot (engine) index.
    pub fn engine(&self) -> u32 {
        self.index as u32
    }

    /// Counts frames decoded under this lease.
    pub fn add_frames(&mut self, n: u64) {
        self.frames += n;
    }
}

impl Drop for EngineLease {
    fn drop(&mut self) {
        self.pool.release(self.index, self.since, self.frames);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn never_more_sessions_than_slots_and_every_one_runs() {
        let pool = EnginePool::new(3);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..12)
            .map(|_| {
                let (pool, running, most) = (pool.clone(), running.clone(), most.clone());
                std::thread::spawn(move || {
                    let mut lease = pool.acquire();
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(15));
                    lease.add_frames(10);
                    running.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for h in handles {
            h.join().expect("a session thread");
        }
        assert_eq!(most.load(Ordering::SeqCst), 3, "three at once, not more");
        assert_eq!(pool.peak(), 3);
        let usage = pool.usage();
        assert_eq!(usage.len(), 3);
        assert_eq!(usage.iter().map(|u| u.sessions).sum::<u64>(), 12);
        assert_eq!(usage.iter().map(|u| u.frames).sum::<u64>(), 120);
        assert!(usage.iter().all(|u| !u.busy && u.sessions >= 1));
        assert!(
            pool.waits().0 >= 9,
            "nine of them waited: {:?}",
            pool.waits()
        );
    }

    #[test]
    fn the_least_used_free_slot_is_taken_and_counted() {
        let pool = EnginePool::new(2);
        let a = pool.acquire();
        assert_eq!(a.engine(), 0);
        let b = pool.acquire();
        assert_eq!(b.engine(), 1);
        assert!(pool.try_acquire().is_none(), "both busy");
        drop(a);
        // Slot 0 and 1 have one session each; 0 is free.
        let c = pool.try_acquire().expect("slot 0 is free");
        assert_eq!(c.engine(), 0);
        drop(c);
        drop(b);
        // Slot 0 has two sessions now, slot 1 one: slot 1 is less used.
        assert_eq!(pool.acquire().engine(), 1);
        let usage = pool.usage();
        assert_eq!(
            usage.iter().map(|u| u.sessions).collect::<Vec<_>>(),
            vec![2, 2]
        );
    }

    #[test]
    fn a_lower_limit_holds_new_sessions_back_and_a_higher_one_adds_slots() {
        let pool = EnginePool::new(2);
        let a = pool.acquire();
        pool.set_limit(1);
        assert!(pool.try_acquire().is_none(), "one is running: at the limit");
        drop(a);
        let b = pool.try_acquire().expect("under the limit again");
        assert_eq!(b.engine(), 0);
        pool.set_limit(4);
        let more: Vec<_> = (0..3).map(|_| pool.acquire()).collect();
        assert_eq!(more.len(), 3);
        assert!(pool.try_acquire().is_none());
        assert_eq!(pool.usage().len(), 4);
        assert_eq!(pool.usage().iter().filter(|u| u.busy).count(), 4);
    }

    #[test]
    fn a_waiting_session_starts_when_the_limit_rises() {
        let pool = EnginePool::new(1);
        let held = pool.acquire();
        let p = pool.clone();
        let waiter = std::thread::spawn(move || p.acquire().engine());
        std::thread::sleep(Duration::from_millis(30));
        pool.set_limit(2);
        assert_eq!(waiter.join().expect("the waiter"), 1);
        drop(held);
    }

    #[test]
    fn the_observer_hears_each_lease_and_its_frames() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let pool = EnginePool::observed(
            1,
            Box::new(move |engine, event| {
                s.lock().expect("events").push((engine, event));
            }),
        );
        let mut lease = pool.acquire();
        lease.add_frames(7);
        drop(lease);
        let seen = seen.lock().expect("events");
        assert_eq!(seen.len(), 2);
        assert!(matches!(seen[0], (0, EngineEvent::Taken { .. })));
        assert!(matches!(
            seen[1],
            (0, EngineEvent::Released { frames: 7, .. })
        ));
    }
}
