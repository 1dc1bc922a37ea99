//! Gzip for items pages without compressing each page on the fly.
//!
//! A page in CRS84 is a header, the features' pre-rendered GeoJSON joined by commas, and `]}`.
//! Each feature is compressed once, on first use, into a [`Piece`]: a raw deflate stream from a
//! fresh compressor that ends in a sync flush (byte-aligned, not final), with the CRC-32 and
//! length of its input. Such pieces concatenate into one valid deflate stream, because none of
//! them refers back to bytes before it. [`PageWriter`] writes the gzip header, the page header
//! (in stored blocks: a few hundred bytes, not worth a compressor per page), the pieces and
//! separators, an empty final block, and the gzip trailer, whose CRC-32 it combines from the
//! pieces' without reading the uncompressed bytes: each piece keeps `x^(8·len) mod P`, so that
//! appending it is one carry-less multiplication ([`multmodp`], as zlib's `crc32_combine_op`).
//! A compressed page then costs a copy of its compressed size instead of about 30 ms of CPU per
//! 2 MB (gzip level 6), and never runs on the async executor.

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
    /// `x^(8·len)` modulo the CRC-32 polynomial: what appending `len` bytes multiplies a CRC by.
    shift: u32,
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
        Self::from_deflate(deflate, data)
    }

    fn from_deflate(deflate: Vec<u8>, data: &[u8]) -> Self {
        let len = data.len() as u64;
        Self { deflate: deflate.into_boxed_slice(), crc: crc32fast::hash(data), len, shift: x8nmodp(len) }
    }
}

/// The CRC-32 polynomial, bit-reflected.
const POLY: u32 = 0xedb8_8320;

/// `a · b` modulo the CRC-32 polynomial, in the reflected bit order CRC-32 uses (zlib's
/// `multmodp`).
fn multmodp(a: u32, mut b: u32) -> u32 {
    let mut m = 1u32 << 31;
    let mut p = 0;
    loop {
        if a & m != 0 {
            p ^= b;
            if a & (m - 1) == 0 {
                return p;
            }
        }
        m >>= 1;
        b = if b & 1 == 1 { (b >> 1) ^ POLY } else { b >> 1 };
        if m == 0 {
            return p;
        }
    }
}

/// `x^(2^k)` modulo the polynomial, for k in 0..32.
fn x2n_table() -> &'static [u32; 32] {
    static TABLE: OnceLock<[u32; 32]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = [0u32; 32];
        let mut p = 1u32 << 30; // x^1
        for entry in &mut table {
            *entry = p;
            p = multmodp(p, p);
        }
        table
    })
}

/// `x^(8·n)` modulo the polynomial: the operator that appends `n` bytes to a CRC (zlib's
/// `crc32_combine_gen64`).
fn x8nmodp(mut n: u64) -> u32 {
    let table = x2n_table();
    let mut p = 1u32 << 31; // x^0
    let mut k = 3;
    while n != 0 {
        if n & 1 == 1 {
            p = multmodp(table[k & 31], p);
        }
        n >>= 1;
        k += 1;
    }
    p
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
    /// CRC-32 of the uncompressed bytes so far.
    crc: u32,
    /// Uncompressed length so far.
    len: u64,
}

impl PageWriter {
    /// A writer with room for `capacity` bytes of output besides the gzip header and trailer.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        let mut out = Vec::with_capacity(capacity + 32);
        // Magic, deflate, no flags, no mtime, no extra flags, OS unknown.
        out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
        Self { out, crc: 0, len: 0 }
    }

    /// Output bytes [`PageWriter::bytes`] adds for `n` bytes of input.
    #[must_use]
    pub fn stored_len(n: usize) -> usize {
        n + 5 * n.div_ceil(65_535).max(1)
    }

    /// Output bytes [`PageWriter::comma`] adds.
    #[must_use]
    pub fn comma_len() -> usize {
        comma().deflate.len()
    }

    /// Appends bytes as they are, in stored blocks (the page header and trailer).
    pub fn bytes(&mut self, data: &[u8]) {
        self.out.extend_from_slice(&stored(data));
        self.crc_bytes(data);
    }

    fn crc_bytes(&mut self, data: &[u8]) {
        let mut h = crc32fast::Hasher::new_with_initial(self.crc);
        h.update(data);
        self.crc = h.finalize();
        self.len += data.len() as u64;
    }

    /// Appends a compressed piece.
    pub fn piece(&mut self, piece: &Piece) {
        self.out.extend_from_slice(&piece.deflate);
        self.crc = multmodp(piece.shift, self.crc) ^ piece.crc;
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
        self.out.extend_from_slice(&self.crc.to_le_bytes());
        #[expect(clippy::cast_possible_truncation, reason = "gzip's ISIZE is the length modulo 2^32")]
        self.out.extend_from_slice(&(len as u32).to_le_bytes());
        self.out
    }
}

/// `data` gzipped at the fastest level, for pages not assembled from pieces.
#[must_use]
pub fn gzip_fast(data: &[u8]) -> Vec<u8> {
    let mut w = PageWriter::new(data.len() / 4);
    let deflate = deflate_sync(&mut Compress::new(Compression::fast(), false), data).unwrap_or_else(|| stored(data));
    w.out.extend_from_slice(&deflate);
    w.crc_bytes(data);
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
            w.piece(&Piece::from_deflate(stored(data), data));
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
    fn crc_combination_matches_the_crc_of_the_concatenation() {
        let zeros = vec![0u8; 70_000];
        let parts: [&[u8]; 5] = [b"", b"a", b"hello, world", &zeros, "小区".as_bytes()];
        let mut w = PageWriter::new(0);
        let mut all = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            if i % 2 == 0 {
                w.piece(&Piece::new(p));
            } else {
                w.bytes(p);
            }
            all.extend_from_slice(p);
            assert_eq!(w.crc, crc32fast::hash(&all), "after part {i}");
            assert_eq!(w.len, all.len() as u64);
        }
        assert_eq!(w.out.len(), 10 + parts.iter().enumerate().map(|(i, p)| if i % 2 == 0 { Piece::new(p).deflate.len() } else { PageWriter::stored_len(p.len()) }).sum::<usize>());
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
