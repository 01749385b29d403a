//! Streaming audio: decode any file's audio into 48 kHz float PCM through
//! `aresample`/`aformat`, from any start point, a block at a time.

use std::collections::VecDeque;
use std::path::Path;

use ffmpeg_next as ff;

use super::{open, seconds};
use crate::error::RenderError;

/// The sample rate of everything Scout mixes and encodes.
pub const SAMPLE_RATE: u32 = 48_000;

/// Decodes a file's best audio stream to interleaved `f32` at 48 kHz.
pub struct PcmReader {
    input: ff::format::context::Input,
    decoder: ff::decoder::Audio,
    graph: ff::filter::Graph,
    stream_index: usize,
    channels: usize,
    pending: VecDeque<f32>,
    /// Frames still to drop to land exactly on the start time.
    skip: usize,
    /// Set after a seek until the first decoded frame tells how much to drop.
    seek_target: Option<f64>,
    time_base: ff::Rational,
    eof: bool,
    name: String,
}

impl PcmReader {
    /// Opens `path`'s audio, positioned at `start` seconds, producing
    /// `channels` (1 or 2) interleaved channels.
    pub fn open(path: &Path, name: &str, start: f64, channels: usize) -> Result<Self, RenderError> {
        let input = open(path, name)?;
        let stream = input
            .streams()
            .best(ff::media::Type::Audio)
            .ok_or_else(|| RenderError::media(name, "has no audio stream"))?;
        let stream_index = stream.index();
        let tb = stream.time_base();
        let stream_start = super::stream_start(&stream);
        let ctx = ff::codec::context::Context::from_parameters(stream.parameters())
            .map_err(RenderError::ffmpeg("audio decoder"))?;
        let decoder = ctx
            .decoder()
            .audio()
            .map_err(|e| RenderError::media(name, format!("cannot decode its audio: {e}")))?;
        let graph = Self::graph(&decoder, channels)?;
        let mut reader = Self {
            input,
            decoder,
            graph,
            stream_index,
            channels: channels.clamp(1, 2),
            pending: VecDeque::new(),
            skip: 0,
            seek_target: None,
            time_base: tb,
            eof: false,
            name: name.to_string(),
        };
        if start > 0.0 {
            let abs = ((start + stream_start) * f64::from(ff::ffi::AV_TIME_BASE)) as i64;
            reader.input.seek(abs, ..abs).map_err(|e| {
                RenderError::media(name, format!("cannot seek to {start:.2} s: {e}"))
            })?;
            reader.decoder.flush();
            // Seeking lands on a packet at or before `start`: drop the lead-in
            // exactly, using the first decoded frame's timestamp.
            reader.seek_target = Some(start + stream_start);
        }
        Ok(reader)
    }

    fn graph(
        decoder: &ff::decoder::Audio,
        channels: usize,
    ) -> Result<ff::filter::Graph, RenderError> {
        let mut graph = ff::filter::Graph::new();
        let rate = decoder.rate().max(1);
        let in_channels = decoder.channels().max(1);
        let layout = match in_channels {
            1 => "mono".to_string(),
            2 => "stereo".to_string(),
            n => format!("{n}c"),
        };
        let fmt_name = decoder.format().name();
        let args = format!(
            "time_base=1/{rate}:sample_rate={rate}:sample_fmt={fmt_name}:channel_layout={layout}"
        );
        let abuffer = ff::filter::find("abuffer")
            .ok_or_else(|| RenderError::Init("no abuffer filter".into()))?;
        let sink = ff::filter::find("abuffersink")
            .ok_or_else(|| RenderError::Init("no abuffersink filter".into()))?;
        graph
            .add(&abuffer, "in", &args)
            .map_err(RenderError::ffmpeg("audio source"))?;
        graph
            .add(&sink, "out", "")
            .map_err(RenderError::ffmpeg("audio sink"))?;
        let out_layout = if channels >= 2 { "stereo" } else { "mono" };
        let chain = format!(
            "aresample={SAMPLE_RATE},aformat=sample_fmts=flt:sample_rates={SAMPLE_RATE}:channel_layouts={out_layout}"
        );
        graph
            .output("in", 0)
            .and_then(|p| p.input("out", 0))
            .and_then(|p| p.parse(&chain))
            .map_err(RenderError::ffmpeg("audio filter"))?;
        graph
            .validate()
            .map_err(RenderError::ffmpeg("audio filter"))?;
        Ok(graph)
    }

    /// Channels per frame of the output.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Fills `out` with up to `frames` frames (each `channels` samples);
    /// returns how many frames were written, 0 at the end.
    pub fn read(&mut self, out: &mut Vec<f32>, frames: usize) -> Result<usize, RenderError> {
        let want = frames * self.channels;
        while self.pending.len() < want && !self.eof {
            self.pump()?;
        }
        let n = want.min(self.pending.len());
        out.extend(self.pending.drain(..n));
        Ok(n / self.channels)
    }

    /// Reads everything that is left.
    pub fn read_to_end(&mut self) -> Result<Vec<f32>, RenderError> {
        let mut out = Vec::new();
        while self.read(&mut out, 48_000)? > 0 {}
        Ok(out)
    }

    /// Decodes one more packet's worth of audio into `pending`.
    fn pump(&mut self) -> Result<(), RenderError> {
        let mut packet = ff::Packet::empty();
        match packet.read(&mut self.input) {
            Ok(()) if packet.stream() == self.stream_index => {
                if let Err(e) = self.decoder.send_packet(&packet) {
                    tracing::debug!(file = %self.name, error = %e, "undecodable audio packet skipped");
                }
            }
            Ok(()) => return Ok(()),
            Err(ff::Error::Eof) => {
                let _ = self.decoder.send_eof();
                self.eof = true;
            }
            Err(e) => {
                return Err(RenderError::media(
                    &self.name,
                    format!("audio is damaged: {e}"),
                ));
            }
        }
        let mut frame = ff::frame::Audio::empty();
        while self.decoder.receive_frame(&mut frame).is_ok() {
            if let Some(target) = self.seek_target {
                // Drop samples before the requested start, once, using the
                // first frame's own timestamp.
                let t = seconds(
                    frame.timestamp().or(frame.pts()).unwrap_or(0),
                    self.time_base,
                );
                let lead = ((target - t) * f64::from(SAMPLE_RATE)).round();
                self.skip = if lead > 0.0 { lead as usize } else { 0 };
                self.seek_target = None;
            }
            let mut src = self
                .graph
                .get("in")
                .ok_or_else(|| RenderError::Init("audio source missing".into()))?;
            src.source()
                .add(&frame)
                .map_err(RenderError::ffmpeg("filter audio"))?;
            self.drain_graph()?;
        }
        if self.eof {
            let mut src = self
                .graph
                .get("in")
                .ok_or_else(|| RenderError::Init("audio source missing".into()))?;
            let _ = src.source().flush();
            self.drain_graph()?;
        }
        Ok(())
    }

    fn drain_graph(&mut self) -> Result<(), RenderError> {
        let mut out = self
            .graph
            .get("out")
            .ok_or_else(|| RenderError::Init("audio sink missing".into()))?;
        let mut filtered = ff::frame::Audio::empty();
        while out.sink().frame(&mut filtered).is_ok() {
            let samples = filtered.samples() * self.channels;
            let data: &[f32] = filtered.plane::<f32>(0);
            let data = &data[..samples.min(data.len())];
            let skip_samples = (self.skip * self.channels).min(data.len());
            self.skip -= skip_samples / self.channels;
            self.pending.extend(&data[skip_samples..]);
        }
        Ok(())
    }
}

/// Decodes a whole file's audio to mono 48 kHz (for measured speech).
pub fn decode_mono(path: &Path, name: &str) -> Result<Vec<f32>, RenderError> {
    PcmReader::open(path, name, 0.0, 1)?.read_to_end()
}

/// Seconds of audio in a file of `bytes` written by [`write_wav`] (16-bit
/// mono at [`SAMPLE_RATE`] after a 44-byte header).
pub fn wav_seconds(bytes: u64) -> f64 {
    bytes.saturating_sub(44) as f64 / f64::from(SAMPLE_RATE * 2)
}

/// Writes 48 kHz mono samples as a 16-bit PCM WAV file.
pub fn write_wav(path: &Path, samples: &[f32]) -> Result<(), RenderError> {
    std::fs::write(path, wav_bytes(samples))?;
    Ok(())
}

/// 48 kHz mono samples as the bytes of a 16-bit PCM WAV file.
pub fn wav_bytes(samples: &[f32]) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    out.extend_from_slice(&(SAMPLE_RATE * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        let v = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}
