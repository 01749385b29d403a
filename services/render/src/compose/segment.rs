//! What rendering one segment of the timeline cost and produced.

/// What rendering a segment cost and produced.
#[derive(Debug, Clone, Copy, Default)]
pub struct SegmentStats {
    /// Frames decoded from the source.
    pub decoded: u64,
    /// Frames produced from the source.
    pub produced: u64,
    /// Frames produced by holding the last one.
    pub held: u64,
}
