//! The audio half of compose: a streaming mixer and the AAC encoder.
//!
//! Voice tracks sit at their offsets, each segment's own sound is mixed in
//! where asked (at normal speed only), and background music loops under
//! everything, ducked while a voice speaks. Sources are opened when they
//! start and closed when they end, and the mix is made a block at a time,
//! so memory does not grow with the timeline.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use ffmpeg_next as ff;

use super::plan::{Plan, Play};
use crate::error::RenderError;
use crate::media::audio::{PcmReader, SAMPLE_RATE};

/// Music level while a voice speaks, relative to its own level.
const DUCK_LEVEL: f32 = 0.25;
/// How fast the music ducks, seconds.
const DUCK_ATTACK: f32 = 0.06;
/// How fast it comes back, seconds.
const DUCK_RELEASE: f32 = 0.4;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Voice,
    Clip,
}

struct Track {
    kind: Kind,
    path: PathBuf,
    name: String,
    /// First output sample.
    start: u64,
    /// One past the last output sample.
    end: u64,
    /// Where in the source the track starts, seconds.
    source_from: f64,
    gain: f32,
    reader: Option<PcmReader>,
    done: bool,
}

struct Music {
    path: PathBuf,
    name: String,
    gain: f32,
    duck: bool,
    fade: u64,
    reader: Option<PcmReader>,
}

/// Mixes the plan's audio into 48 kHz stereo blocks.
pub struct Mixer {
    tracks: Vec<Track>,
    music: Option<Music>,
    position: u64,
    total: u64,
    duck: f32,
    voice_out: Option<WavWriter>,
}

impl Mixer {
    /// A mixer for `plan`; the voice-only track is also written to `voice_wav` when given.
    pub fn new(plan: &Plan, voice_wav: Option<&Path>) -> Result<Self, RenderError> {
        let rate = f64::from(SAMPLE_RATE);
        let total = (plan.duration * rate).round() as u64;
        let mut tracks = Vec::new();
        for v in &plan.voice {
            let start = (v.offset * rate).round() as u64;
            let end = (start + (v.duration * rate).round() as u64).min(total);
            if start < end {
                tracks.push(Track {
                    kind: Kind::Voice,
                    path: v.path.clone(),
                    name: v.source.clone(),
                    start,
                    end,
                    source_from: 0.0,
                    gain: v.gain as f32,
                    reader: None,
                    done: false,
                });
            }
        }
        for s in &plan.segments {
            if let Play::Clip {
                from,
                audio_gain: Some(gain),
                ..
            } = s.play
            {
                let start = (s.start * rate).round() as u64;
                let end = ((s.start + s.duration - s.held_seconds) * rate).round() as u64;
                if start < end {
                    tracks.push(Track {
                        kind: Kind::Clip,
                        path: s.path.clone(),
                        name: s.source.clone(),
                        start,
                        end: end.min(total),
                        source_from: from,
                        gain: gain as f32,
                        reader: None,
                        done: false,
                    });
                }
            }
        }
        let music = plan.music.as_ref().map(|m| Music {
            path: m.path.clone(),
            name: m.source.clone(),
            gain: m.gain as f32,
            duck: m.duck,
            fade: (m.fade * rate).round() as u64,
            reader: None,
        });
        let voice_out = match voice_wav {
            Some(p) => Some(WavWriter::create(p)?),
            None => None,
        };
        Ok(Self {
            tracks,
            music,
            position: 0,
            total,
            duck: 1.0,
            voice_out,
        })
    }

    /// Output samples (per channel) in all.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Samples mixed so far.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// The next block of up to `frames` stereo frames (interleaved); empty at the end.
    pub fn next_block(&mut self, frames: usize) -> Result<Vec<f32>, RenderError> {
        let n = (frames as u64).min(self.total - self.position) as usize;
        let mut mix = vec![0.0f32; n * 2];
        let mut voice_only = vec![0.0f32; n];
        let (from, to) = (self.position, self.position + n as u64);
        let mut voice_active = false;
        let mut buf = Vec::with_capacity(n * 2);
        for track in self.tracks.iter_mut() {
            if track.done || track.end <= from || track.start >= to {
                if track.end <= from && track.reader.is_some() {
                    track.reader = None; // closed as soon as it has played
                    track.done = true;
                }
                continue;
            }
            if track.reader.is_none() {
                let offset = from.saturating_sub(track.start) as f64 / f64::from(SAMPLE_RATE);
                track.reader = Some(PcmReader::open(
                    &track.path,
                    &track.name,
                    track.source_from + offset,
                    2,
                )?);
            }
            let lo = track.start.max(from);
            let hi = track.end.min(to);
            let want = (hi - lo) as usize;
            buf.clear();
            let got = match track.reader.as_mut() {
                Some(r) => r.read(&mut buf, want)?,
                None => 0,
            };
            if track.kind == Kind::Voice && got > 0 {
                voice_active = true;
            }
            let base = (lo - from) as usize;
            for i in 0..got {
                let (l, r) = (buf[2 * i] * track.gain, buf[2 * i + 1] * track.gain);
                mix[2 * (base + i)] += l;
                mix[2 * (base + i) + 1] += r;
                if track.kind == Kind::Voice {
                    voice_only[base + i] += 0.5 * (l + r);
                }
            }
            if got < want || hi >= track.end {
                track.reader = None;
                track.done = true;
            }
        }
        if let Some(music) = self.music.as_mut() {
            // Ducking follows voice activity with a smoothed envelope.
            let target = if music.duck && voice_active {
                DUCK_LEVEL
            } else {
                1.0
            };
            let tau = if target < self.duck {
                DUCK_ATTACK
            } else {
                DUCK_RELEASE
            };
            let block = n as f32 / SAMPLE_RATE as f32;
            let start_env = self.duck;
            self.duck += (target - self.duck) * (1.0 - (-block / tau).exp());
            buf.clear();
            let mut got = 0;
            let mut empty_reads = 0;
            while got < n {
                if music.reader.is_none() {
                    music.reader = Some(PcmReader::open(&music.path, &music.name, 0.0, 2)?);
                }
                let read = match music.reader.as_mut() {
                    Some(r) => r.read(&mut buf, n - got)?,
                    None => 0,
                };
                if read == 0 {
                    // End of the file: loop from the top. A file that gives
                    // nothing even right after opening is silent: stop.
                    music.reader = None;
                    empty_reads += 1;
                    if empty_reads > 1 {
                        break;
                    }
                    continue;
                }
                empty_reads = 0;
                got += read;
            }
            for i in 0..got.min(n) {
                let pos = from + i as u64;
                let mut g =
                    music.gain * (start_env + (self.duck - start_env) * i as f32 / n.max(1) as f32);
                if music.fade > 0 {
                    let fade_in = (pos as f32 / music.fade as f32).min(1.0);
                    let fade_out = ((self.total - pos) as f32 / music.fade as f32).min(1.0);
                    g *= fade_in * fade_out;
                }
                mix[2 * i] += buf[2 * i] * g;
                mix[2 * i + 1] += buf[2 * i + 1] * g;
            }
        }
        for s in mix.iter_mut() {
            *s = s.clamp(-1.0, 1.0);
        }
        if let Some(w) = self.voice_out.as_mut() {
            w.write(&voice_only)?;
        }
        self.position = to;
        Ok(mix)
    }

    /// Finishes the voice-only file.
    pub fn finish(&mut self) -> Result<(), RenderError> {
        if let Some(w) = self.voice_out.take() {
            w.finish()?;
        }
        Ok(())
    }
}

/// A streaming 16-bit mono WAV writer (the header is patched at the end).
struct WavWriter {
    file: std::io::BufWriter<std::fs::File>,
    samples: u64,
}

impl WavWriter {
    fn create(path: &Path) -> Result<Self, RenderError> {
        let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
        file.write_all(&[0u8; 44])?;
        Ok(Self { file, samples: 0 })
    }

    fn write(&mut self, samples: &[f32]) -> Result<(), RenderError> {
        for s in samples {
            self.file
                .write_all(&((s.clamp(-1.0, 1.0) * 32767.0).round() as i16).to_le_bytes())?;
        }
        self.samples += samples.len() as u64;
        Ok(())
    }

    fn finish(mut self) -> Result<(), RenderError> {
        let data = (self.samples * 2) as u32;
        let mut h = Vec::with_capacity(44);
        h.extend_from_slice(b"RIFF");
        h.extend_from_slice(&(36 + data).to_le_bytes());
        h.extend_from_slice(b"WAVEfmt ");
        h.extend_from_slice(&16u32.to_le_bytes());
        h.extend_from_slice(&1u16.to_le_bytes());
        h.extend_from_slice(&1u16.to_le_bytes());
        h.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
        h.extend_from_slice(&(SAMPLE_RATE * 2).to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&16u16.to_le_bytes());
        h.extend_from_slice(b"data");
        h.extend_from_slice(&data.to_le_bytes());
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(&h)?;
        self.file.flush()?;
        Ok(())
    }
}

/// Opens the AAC-LC encoder: 48 kHz stereo at the given bit rate. `fast`
/// (drafts): FFmpeg's fast coefficient search, about 3x quicker, which
/// holds the bit rate less closely.
pub fn open_aac(
    bit_rate: u64,
    global_header: bool,
    fast: bool,
) -> Result<ff::encoder::Audio, RenderError> {
    let codec = ff::encoder::find(ff::codec::Id::AAC)
        .ok_or_else(|| RenderError::Init("FFmpeg has no AAC encoder".into()))?;
    let mut enc = ff::codec::context::Context::new_with_codec(codec)
        .encoder()
        .audio()
        .map_err(RenderError::ffmpeg("aac encoder"))?;
    enc.set_rate(SAMPLE_RATE as i32);
    enc.set_format(ff::format::Sample::F32(ff::format::sample::Type::Planar));
    enc.set_channel_layout(ff::ChannelLayout::STEREO);
    enc.set_channels(2);
    enc.set_bit_rate(bit_rate as usize);
    enc.set_time_base(ff::Rational(1, SAMPLE_RATE as i32));
    if global_header {
        enc.set_flags(ff::codec::Flags::GLOBAL_HEADER);
    }
    let mut opts = ff::Dictionary::new();
    opts.set("profile", "aac_low");
    if fast {
        opts.set("aac_coder", "fast");
    }
    enc.open_with(opts)
        .map_err(RenderError::ffmpeg("open the aac encoder"))
}

/// Interleaved stereo samples as a planar float frame at `pts` (in samples).
pub fn planar_frame(interleaved: &[f32], pts: i64) -> ff::frame::Audio {
    let n = interleaved.len() / 2;
    let mut frame = ff::frame::Audio::new(
        ff::format::Sample::F32(ff::format::sample::Type::Planar),
        n,
        ff::ChannelLayout::STEREO,
    );
    frame.set_rate(SAMPLE_RATE);
    for ch in 0..2 {
        let plane = frame.plane_mut::<f32>(ch);
        for i in 0..n {
            plane[i] = interleaved[2 * i + ch];
        }
    }
    frame.set_pts(Some(pts));
    frame
}
