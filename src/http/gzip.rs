//! Gzip for items pages without compressing each page on the fly.
//!
//! A page in CRS84 is a header, the features' pre-rendered GeoJSON joined by commas, and `]}`.
//! Each feature is compressed once, on first use, into a [`Piece`]: a raw deflate stream from a
//! fresh compressor that ends in a sync flush (byte-aligned, not final), with the CRC-32 and
//! length of its input. Such pieces concatenate into one valid deflate stream, because none of
//! them refers back to bytes before it. [`PageWriter`] writes the gzip header, the compressed
//! page header, the pieces and separators, an empty final block, and the gzip trailer, whose
//! CRC-32 it combines from the pieces' ([`crc32fast::Hasher::combine`]) without reading the
//! uncompressed bytes. A compressed page then costs a copy of its compressed size instead of
//! about 30 ms of CPU per 2 MB (gzip level 6), and never runs on the async executor.

use std::cell::RefCell;
use std::sync::OnceLock;

use axum::http::{header, HeaderMap};
use flate2::{Compress, Compression, FlushCompress, Status};

/// Level for pieces compressed once and kept: better ratio, paid once per feature.
const PIECE_LEVEL: u32 = 6;

/// A raw deflate stream ending in a sync flush, with its input's CRC-32 and length.
#[derive(Debug, Clone)]
pub struct Piece {
    /// Raw deflate: blocks from a fresh compressor, byte-aligned, none final.
    pub deflate: Box<[u8]>,
    /// CRC-32 (gzip's) of the uncompressed bytes.
    pub crc: u32,
    /// Length of the uncompressed bytes.
    pub len: u64,
}

impl Piece {
    /// Compresses `data` at the level kept pieces use, with this thread's compressor (a fresh
    /// one per piece would allocate and clear about 300 KB of state for a 2 KB feature). When the
    /// compressor fails (it should not), the bytes are kept in stored blocks, valid deflate too.
    #[must_use]
    pub fn new(data: &[u8]) -> Self {
        thread_local! {
            static COMPRESSOR: RefCell<Compress> = RefCell::new(Compress::new(Compression::new(PIECE_LEVEL), false));
        }
        let deflate = COMPRESSOR
            .with(|c| c.try_borrow_mut().ok().and_then(|mut c| deflate_sync(&mut c, data)))
            .unwrap_or_else(|| stored(data));
        Self { deflate: deflate.into_boxed_slice(), crc: crc32fast::hash(data), len: data.len() as u64 }
    }
}

/// `data` as a raw deflate stream ending in a sync flush, or `None` when the compressor reports
/// an error.
fn deflate_sync(c: &mut Compress, data: &[u8]) -> Option<Vec<u8>> {
    c.reset();
    let mut out = Vec::with_capacity(data.len() / 3 + 64);
    let start = c.total_in();
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(256));
        }
        let consumed = usize::try_from(c.total_in() - start).ok()?;
        let status = c.compress_vec(&data[consumed..], &mut out, FlushCompress::Sync).ok()?;
        let done = usize::try_from(c.total_in() - start).ok()? == data.len();
        // zlib's rule: a flush is complete once a call leaves output space unused.
        if done && out.len() < out.capacity() {
            return matches!(status, Status::Ok | Status::BufError).then_some(out);
        }
    }
}

/// `data` in stored (uncompressed) deflate blocks, none final.
fn stored(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 65_535 * 5 + 5);
    let mut chunks = data.chunks(65_535).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[0, 0, 0, 0xff, 0xff]);
    }
    for chunk in chunks {
        let n = u16::try_from(chunk.len()).unwrap_or(u16::MAX);
        out.push(0);
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&(!n).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

/// The separator between features, compressed once.
fn comma() -> &'static Piece {
    static COMMA: OnceLock<Piece> = OnceLock::new();
    COMMA.get_or_init(|| Piece::new(b","))
}

/// Builds one gzip member from compressed pieces and small uncompressed parts.
#[derive(Debug)]
pub struct PageWriter {
    out: Vec<u8>,
    crc: crc32fast::Hasher,
    /// Uncompressed length so far.
    len: u64,
    compress: Compress,
}

impl PageWriter {
    /// A writer with room for `capacity` bytes of output.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        let mut out = Vec::with_capacity(capacity + 64);
        // Magic, deflate, no flags, no mtime, no extra flags, OS unknown.
        out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
        Self { out, crc: crc32fast::Hasher::new(), len: 0, compress: Compress::new(Compression::fast(), false) }
    }

    /// Appends bytes that were not compressed beforehand (page header and trailer).
    pub fn bytes(&mut self, data: &[u8]) {
        let deflate = deflate_sync(&mut self.compress, data).unwrap_or_else(|| stored(data));
        self.out.extend_from_slice(&deflate);
        self.crc.update(data);
        self.len += data.len() as u64;
    }

    /// Appends a compressed piece.
    pub fn piece(&mut self, piece: &Piece) {
        self.out.extend_from_slice(&piece.deflate);
        self.crc.combine(&crc32fast::Hasher::new_with_initial_len(piece.crc, piece.len));
        self.len += piece.len;
    }

    /// Appends the feature separator.
    pub fn comma(&mut self) {
        self.piece(comma());
    }

    /// The finished gzip member.
    #[must_use]
    pub fn finish(mut self) -> Vec<u8> {
        // An empty final block with fixed Huffman codes: BFINAL=1, BTYPE=01, end-of-block.
        self.out.extend_from_slice(&[0x03, 0x00]);
        let len = self.len;
        self.out.extend_from_slice(&self.crc.finalize().to_le_bytes());
        #[expect(clippy::cast_possible_truncation, reason = "gzip's ISIZE is the length modulo 2^32")]
        self.out.extend_from_slice(&(len as u32).to_le_bytes());
        self.out
    }
}

/// `data` gzipped at the fastest level, for pages not assembled from pieces.
#[must_use]
pub fn gzip_fast(data: &[u8]) -> Vec<u8> {
    let mut w = PageWriter::new(data.len() / 4);
    w.bytes(data);
    w.finish()
}

/// Whether the client's `Accept-Encoding` makes gzip the encoding to send: `gzip` or `x-gzip`
/// with a non-zero q-value at least that of `identity`. This matches the compression layer's
/// choice, which only offers gzip.
#[must_use]
pub fn prefers_gzip(headers: &HeaderMap) -> bool {
    let mut gzip: Option<u16> = None;
    let mut identity: Option<u16> = None;
    for value in headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()) {
        for entry in value.split(',') {
            let mut parts = entry.splitn(2, ';');
            let name = parts.next().unwrap_or("").trim();
            let q = match parts.next() {
                Some(q) => match qvalue(q.trim()) {
                    Some(q) => q,
                    None => continue,
                },
                None => 1000,
            };
            let slot = if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
                &mut gzip
            } else if name.eq_ignore_ascii_case("identity") {
                &mut identity
            } else {
                continue;
            };
            *slot = Some(slot.map_or(q, |s| s.max(q)));
        }
    }
    gzip.is_some_and(|g| g > 0 && identity.is_none_or(|i| g >= i))
}

/// A q-value (`q=0.5`) in thousandths: at most three decimals, 0 to 1.
fn qvalue(s: &str) -> Option<u16> {
    let v = s.strip_prefix("q=").or_else(|| s.strip_prefix("Q="))?;
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_value: u16 = if frac.is_empty() { 0 } else { frac.parse::<u16>().ok()? * 10u16.pow(3 - u32::try_from(frac.len()).ok()?) };
    match int {
        "0" => Some(frac_value),
        "1" if frac_value == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use axum::http::HeaderValue;

    use super::*;

    fn gunzip(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(data).read_to_end(&mut out).expect("valid gzip");
        out
    }

    #[test]
    fn pieces_concatenate_into_one_gzip_member() {
        // Feature-like pieces: the same property names, different values.
        let parts: Vec<Vec<u8>> = (0..200)
            .map(|i| {
                let props: Vec<String> = (0..40).map(|k| format!("\"kind_{k}_distance_m\":{}.{}", i * 7919 % 1000 + k, k * 37 % 100)).collect();
                format!("{{\"type\":\"Feature\",\"id\":{i},\"properties\":{{\"name\":\"小区 {i}\",{}}}}}", props.join(",")).into_bytes()
            })
            .collect();
        let mut w = PageWriter::new(0);
        w.bytes(b"{\"features\":[");
        let mut expected = b"{\"features\":[".to_vec();
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                w.comma();
                expected.push(b',');
            }
            w.piece(&Piece::new(p));
            expected.extend_from_slice(p);
        }
        w.bytes(b"]}");
        expected.extend_from_slice(b"]}");
        let gz = w.finish();
        assert_eq!(gunzip(&gz), expected);
        assert!(gz.len() * 2 < expected.len(), "{} of {}", gz.len(), expected.len());
    }

    #[test]
    fn stored_blocks_and_empty_input_are_valid() {
        let big: Vec<u8> = (0..200_000u32).map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes()[3]).collect();
        for data in [&b""[..], b"x", &big] {
            let mut w = PageWriter::new(0);
            w.piece(&Piece { deflate: stored(data).into_boxed_slice(), crc: crc32fast::hash(data), len: data.len() as u64 });
            w.piece(&Piece::new(data));
            w.bytes(data);
            let mut expected = data.repeat(3);
            if data.is_empty() {
                expected.clear();
            }
            assert_eq!(gunzip(&w.finish()), expected);
        }
        assert_eq!(gunzip(&gzip_fast(&big)), big);
    }

    #[test]
    fn gzip_preference_follows_q_values() {
        let prefers = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).expect("header"));
            prefers_gzip(&h)
        };
        assert!(!prefers_gzip(&HeaderMap::new()));
        assert!(prefers("gzip"));
        assert!(prefers("br, GZIP, deflate"));
        assert!(prefers("x-gzip;q=0.5"));
        assert!(prefers("gzip;q=0.5, identity;q=0.5"));
        assert!(!prefers("gzip;q=0"));
        assert!(!prefers("gzip;q=0.000"));
        assert!(!prefers("gzip;q=0.4, identity;q=0.5"));
        assert!(!prefers("gzip;q=2"));
        assert!(!prefers("gzip;q=0.1234"));
        assert!(!prefers("br, deflate, *"));
        assert!(!prefers("identity"));
    }
}
