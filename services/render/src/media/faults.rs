//! Injected failures, so the recovery paths run for real in tests: on
//! machines without a GPU a software decoder poses as a GPU one that fails
//! after N packets, and compose encodes on a simulated GPU encoder (libx264
//! answering like our NVENC session) that fails after N frames; and the
//! compose worker can fail its first N attempts outright.
//!
//! Only builds with the `faults` feature (test builds) can turn them on,
//! from the `[faults]` config section; in a release build every function
//! here answers "no fault" and the section does not exist.

use scout_common::config::FaultsConfig;

#[cfg(feature = "faults")]
mod injected {
    use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};

    /// Software decoders pose as GPU ones.
    static SIMULATE: AtomicBool = AtomicBool::new(false);
    /// Packets left before the simulated GPU decoder fails; -1: no (more) fault.
    static DECODE_LEFT: AtomicI64 = AtomicI64::new(-1);
    /// Frames after which the simulated GPU encoder fails; 0: no fault.
    static ENCODE_AFTER: AtomicU64 = AtomicU64::new(0);
    /// Frames the simulated GPU encoder has encoded in this process.
    static ENCODED: AtomicU64 = AtomicU64::new(0);
    /// Compose attempts left to fail.
    static COMPOSE_FAILURES: AtomicU32 = AtomicU32::new(0);

    pub fn configure(f: &super::FaultsConfig) {
        let on = f.gpu_decode_after_packets > 0;
        SIMULATE.store(on, Ordering::SeqCst);
        let left = i64::try_from(f.gpu_decode_after_packets).unwrap_or(i64::MAX);
        DECODE_LEFT.store(if on { left } else { -1 }, Ordering::SeqCst);
        ENCODE_AFTER.store(f.gpu_encode_after_frames, Ordering::SeqCst);
        ENCODED.store(0, Ordering::SeqCst);
        COMPOSE_FAILURES.store(f.compose_fail_attempts, Ordering::SeqCst);
    }

    pub fn compose_fails() -> bool {
        COMPOSE_FAILURES
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    pub fn simulate_gpu_decoder() -> bool {
        SIMULATE.load(Ordering::SeqCst)
    }

    pub fn packet_fails() -> bool {
        let left = DECODE_LEFT.load(Ordering::SeqCst);
        if left < 0 {
            return false;
        }
        if left == 0 {
            // One failure; later GPU-labelled decoders work.
            DECODE_LEFT.store(-1, Ordering::SeqCst);
            return true;
        }
        DECODE_LEFT.store(left - 1, Ordering::SeqCst);
        false
    }

    pub fn encoder_fails_after() -> Option<u64> {
        match ENCODE_AFTER.load(Ordering::SeqCst) {
            0 => None,
            n => Some(n),
        }
    }

    pub fn encoded_frame_fails() -> bool {
        let n = ENCODE_AFTER.load(Ordering::SeqCst);
        if n == 0 {
            return false;
        }
        if ENCODED.fetch_add(1, Ordering::SeqCst) + 1 > n {
            // One failure; the work is redone on the CPU.
            ENCODE_AFTER.store(0, Ordering::SeqCst);
            return true;
        }
        false
    }
}

/// Applies the `[faults]` section for this process.
pub fn configure(faults: &FaultsConfig) {
    #[cfg(feature = "faults")]
    injected::configure(faults);
    #[cfg(not(feature = "faults"))]
    let _ = faults;
}

/// True when software decoders pose as GPU ones.
pub fn simulate_gpu_decoder() -> bool {
    #[cfg(feature = "faults")]
    return injected::simulate_gpu_decoder();
    #[cfg(not(feature = "faults"))]
    false
}

/// Counts a packet sent to a (simulated) GPU decoder; true when it must fail.
pub fn packet_fails() -> bool {
    #[cfg(feature = "faults")]
    return injected::packet_fails();
    #[cfg(not(feature = "faults"))]
    false
}

/// Frames after which the simulated GPU encoder fails, when one is asked for.
pub fn encoder_fails_after() -> Option<u64> {
    #[cfg(feature = "faults")]
    return injected::encoder_fails_after();
    #[cfg(not(feature = "faults"))]
    None
}

/// Counts a frame sent to the simulated GPU encoder; true (once) when it
/// must fail: the process's encoders have encoded the frames asked for.
pub fn encoded_frame_fails() -> bool {
    #[cfg(feature = "faults")]
    return injected::encoded_frame_fails();
    #[cfg(not(feature = "faults"))]
    false
}

/// True when this compose attempt must fail (and counts it).
pub fn compose_fails() -> bool {
    #[cfg(feature = "faults")]
    return injected::compose_fails();
    #[cfg(not(feature = "faults"))]
    false
}
