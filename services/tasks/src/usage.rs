//! What tasks used of the billed resources, and what that cost: model calls
//! and images (reported by vision with its script), speech characters and
//! work time (reported by render with its video), downloads (counted here),
//! storage (the clips and outputs). The admin panel's cost estimate prices
//! them with `costs` (seed 000 §11.1 by default).

use scout_common::config::CostsConfig;
use scout_proto::scout::tasks::v1::{CostLine, JobUsage, TaskCost};

use crate::store::UsageRow;

const GB: f64 = 1024.0 * 1024.0 * 1024.0;

/// A job's reported usage as a row to add to its task's.
pub fn row(task_id: i64, u: &JobUsage) -> UsageRow {
    UsageRow {
        task_id,
        model_calls: i64::from(u.model_calls.max(0)),
        model_images: i64::from(u.model_images.max(0)),
        model_tokens: u.model_tokens.max(0),
        tts_characters: u.tts_characters.max(0),
        local_tts_characters: u.local_tts_characters.max(0),
        compute_seconds: if u.work_seconds.is_finite() {
            u.work_seconds.max(0.0)
        } else {
            0.0
        },
        downloads: 0,
    }
}

/// What one task used besides its usage row.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stored {
    /// Frames extracted from its clips (analysed locally or remotely).
    pub frames: i64,
    /// Bytes of its clips.
    pub clip_bytes: i64,
    /// Bytes of its video.
    pub output_bytes: i64,
}

fn line(item: &str, description: &str, quantity: f64, unit: &str, unit_price: f64) -> CostLine {
    CostLine {
        item: item.into(),
        description: description.into(),
        quantity,
        unit: unit.into(),
        unit_price,
        cost: quantity * unit_price,
    }
}

/// The cost estimate of one task.
pub fn estimate(prices: &CostsConfig, task_id: i64, u: &UsageRow, s: &Stored) -> TaskCost {
    let tokens = if u.model_tokens > 0 {
        u.model_tokens as f64
    } else {
        // The provider did not say: the configured guess per call.
        u.model_calls as f64 * prices.tokens_per_call_estimate as f64
    };
    let local_frames = (s.frames - u.model_images).max(0) as f64;
    let stored_gb = (s.clip_bytes + s.output_bytes).max(0) as f64 / GB;
    let transfer_gb = (u.downloads * s.output_bytes).max(0) as f64 / GB;
    let lines = vec![
        line(
            "vision_images",
            "frames sent to the vision model",
            u.model_images as f64,
            "image",
            prices.vision_image,
        ),
        line(
            "local_frames",
            "frames analysed on our own nodes (compute only)",
            local_frames,
            "frame",
            0.0,
        ),
        line(
            "text_tokens",
            "script and title model tokens",
            tokens / 1000.0,
            "1K tokens",
            prices.text_per_1k_tokens,
        ),
        line(
            "tts_characters",
            "characters spoken by the remote speech provider",
            u.tts_characters as f64,
            "character",
            prices.tts_character,
        ),
        line(
            "local_tts_characters",
            "characters spoken by the local speech engine (compute only)",
            u.local_tts_characters as f64,
            "character",
            0.0,
        ),
        line(
            "storage",
            "clips and outputs stored for a month",
            stored_gb,
            "GB-month",
            prices.storage_gb_month,
        ),
        line(
            "transfer",
            "video downloads",
            transfer_gb,
            "GB",
            prices.transfer_gb,
        ),
        line(
            "compute",
            "analysis and compose work",
            u.compute_seconds / 3600.0,
            "hour",
            prices.compute_hour,
        ),
    ];
    TaskCost {
        task_id,
        total: lines.iter().map(|l| l.cost).sum(),
        lines,
        currency: prices.currency.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_typical_task_costs_what_the_seed_says() {
        // Seed 000 §11.1: ~50 frames to Qwen-VL, ~3K tokens, ~500 TTS
        // characters, ~200 MB stored, ~50 MB downloaded, ~0.2 h of compute.
        let u = UsageRow {
            task_id: 1,
            model_calls: 2,
            model_images: 50,
            model_tokens: 3000,
            tts_characters: 500,
            local_tts_characters: 0,
            compute_seconds: 0.2 * 3600.0,
            downloads: 1,
        };
        let s = Stored {
            frames: 50,
            clip_bytes: 150 * 1024 * 1024,
            output_bytes: 50 * 1024 * 1024,
        };
        let cost = estimate(&CostsConfig::default(), 1, &u, &s);
        let get = |item: &str| {
            cost.lines
                .iter()
                .find(|l| l.item == item)
                .map(|l| l.cost)
                .unwrap_or(f64::NAN)
        };
        assert!((get("vision_images") - 0.40).abs() < 1e-9);
        assert!((get("text_tokens") - 0.036).abs() < 1e-9);
        assert!((get("tts_characters") - 1.00).abs() < 1e-9);
        assert!((get("compute") - 0.10).abs() < 1e-9);
        // 200 MB for a month and 50 MB of transfer: a couple of fen each.
        assert!((get("storage") - 0.12 * 200.0 / 1024.0).abs() < 1e-9);
        assert!((get("transfer") - 0.24 * 50.0 / 1024.0).abs() < 1e-9);
        // The seed's total is ~1.57.
        assert!((cost.total - 1.57).abs() < 0.05, "{}", cost.total);
        assert_eq!(cost.currency, "CNY");
    }

    #[test]
    fn local_work_costs_compute_only_and_tokens_are_estimated_when_unreported() {
        let u = UsageRow {
            task_id: 2,
            model_calls: 1,
            local_tts_characters: 300,
            ..UsageRow::default()
        };
        let s = Stored {
            frames: 40,
            ..Stored::default()
        };
        let cost = estimate(&CostsConfig::default(), 2, &u, &s);
        let l = |item: &str| cost.lines.iter().find(|l| l.item == item).cloned();
        assert_eq!(l("local_frames").map(|l| l.quantity), Some(40.0));
        assert_eq!(l("local_frames").map(|l| l.cost), Some(0.0));
        assert_eq!(l("text_tokens").map(|l| l.quantity), Some(2.0));
        assert_eq!(l("local_tts_characters").map(|l| l.cost), Some(0.0));
    }
}
