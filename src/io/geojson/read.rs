//! GeoJSON reading.
//!
//! The document is streamed: a [`DeserializeSeed`] walks the top-level object and visits the
//! `features` array element by element, keeping each feature as an unparsed [`RawValue`]
//! (serde_json checks its syntax and gives line/column for any error, counted over the whole
//! file). Features are gathered into bounded batches (at most [`CHUNK`] features or
//! [`CHUNK_BYTES`] bytes) and each batch is parsed in parallel and handed on before the next is
//! read, so a file of several gigabytes is never held whole: memory is one batch plus what the
//! caller keeps. A feature that is well-formed JSON but not a usable GeoJSON feature is
//! therefore *rejected* with its index and reason, rather than failing the whole file.
//!
//! Files above [`STREAM_ABOVE_BYTES`] go through [`read_reader`] (a `BufReader` over the file);
//! smaller ones are read whole and go through [`read_slice`], the same code borrowing from the
//! buffer instead of copying each feature out of the stream, which serde_json scans about twice
//! as fast. While one batch is parsed (on the rayon pool) the next is read.
//!
//! JSON has no NaN or infinity: a file containing them is malformed and fails with its line and
//! column. Unclosed rings are rejected here (RFC 7946 §3.1.6: "the first and last positions are
//! equivalent"), because `geo` would silently close them.

use std::borrow::Cow;
use std::fmt;
use std::io::{BufRead, BufReader};
use std::ops::Deref;
use std::path::{Path, PathBuf};

use geo::{Coord, Geometry, LineString, MultiPolygon, Point, Polygon};
use rayon::prelude::*;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::io::{FeatureSource, LoadError, LoadReport, RawFeature, SourceInfo};
use crate::model::{AttrValue, Attributes, FeatureId};

/// A GeoJSON file (FeatureCollection, or a single Feature).
#[derive(Debug, Clone)]
pub struct GeoJsonSource {
    /// The file.
    pub path: PathBuf,
    /// Files larger than this are streamed ([`read_reader`]); smaller ones are read whole
    /// ([`read_slice`]), which is about twice as fast.
    pub stream_above_bytes: u64,
}

/// Default of [`GeoJsonSource::stream_above_bytes`]: a file this size costs that much memory
/// for the moment it is read, far below what its features take once loaded.
pub const STREAM_ABOVE_BYTES: u64 = 256 << 20;

impl GeoJsonSource {
    /// A source reading `path`.
    #[must_use]
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), stream_above_bytes: STREAM_ABOVE_BYTES }
    }
}

#[derive(Deserialize)]
struct LegacyCrs {
    properties: Option<LegacyCrsProperties>,
}

#[derive(Deserialize)]
struct LegacyCrsProperties {
    name: Option<String>,
}

impl FeatureSource for GeoJsonSource {
    fn read(
        &mut self,
        report: &mut LoadReport,
        sink: &mut dyn FnMut(RawFeature),
    ) -> Result<SourceInfo, LoadError> {
        let read_error = |source| LoadError::Read { path: self.path.clone(), source };
        let mut file = std::fs::File::open(&self.path).map_err(read_error)?;
        let size = file.metadata().map_err(read_error)?.len();
        if size > self.stream_above_bytes {
            return read_reader(&self.path, BufReader::with_capacity(READ_BUFFER, file), report, sink);
        }
        // serde_json scans a slice about twice as fast as a stream. (A memory-mapped file was
        // measured no faster on the 1,000,000-facility bench once transparent huge pages were off,
        // and a file truncated while mapped would kill the process with SIGBUS: a reload while
        // an editor rewrites the file must fail cleanly instead.)
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0).saturating_add(1));
        std::io::Read::read_to_end(&mut file, &mut bytes).map_err(read_error)?;
        read_slice(&self.path, &bytes, report, sink)
    }
}

/// Bytes read from the file at a time.
const READ_BUFFER: usize = 1 << 20;

/// Reads GeoJSON from memory; `path` is used in messages only.
///
/// # Errors
/// Malformed JSON (with line and column) or a document that is not a Feature or FeatureCollection.
pub fn read_slice(
    path: &Path,
    bytes: &[u8],
    report: &mut LoadReport,
    sink: &mut dyn FnMut(RawFeature),
) -> Result<SourceInfo, LoadError> {
    // A UTF-8 BOM is not JSON but editors on Windows write it.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    utf16_error(path, bytes)?;
    if let Some(info) = read_split(path, bytes, report, sink)? {
        return Ok(info);
    }
    read_document::<_, &RawValue>(path, serde_json::Deserializer::from_slice(bytes), report, sink)
}

/// Reads a plain FeatureCollection through [`split`](super::split): boundaries found by the
/// fast splitter, features parsed in parallel chunks. `Ok(None)` when the splitter declines
/// (nothing has reached `sink` then) and the document must be read by [`read_document`].
///
/// A syntax error inside a feature stops the read; the document is then read again by
/// [`read_document`] for serde_json's error with its line and column over the whole file.
fn read_split(
    path: &Path,
    bytes: &[u8],
    report: &mut LoadReport,
    sink: &mut dyn FnMut(RawFeature),
) -> Result<Option<SourceInfo>, LoadError> {
    let Ok(text) = std::str::from_utf8(bytes) else { return Ok(None) };
    let Some(split) = super::split::split(text) else { return Ok(None) };
    let mut top: Top<&RawValue> = Top { kind: None, features: true, crs: None, id: None, geometry: None, properties: None };
    for &(key, value) in &split.members {
        let raw = || serde_json::from_str::<&RawValue>(value).ok();
        let parsed = match key {
            "type" => serde_json::from_str::<Option<String>>(value).ok().map(|kind| top.kind = kind),
            "crs" => raw().map(|r| top.crs = Some(r)),
            "id" => raw().map(|r| top.id = Some(r)),
            "geometry" => raw().map(|r| top.geometry = Some(r)),
            "properties" => raw().map(|r| top.properties = Some(r)),
            _ => raw().map(drop),
        };
        if parsed.is_none() {
            return Ok(None);
        }
    }
    for (chunk_number, chunk) in split.features.chunks(CHUNK).enumerate() {
        let first = chunk_number * CHUNK;
        let parsed: Vec<Result<Parsed, serde_json::Error>> =
            chunk.par_iter().enumerate().map(|(i, &(_, text))| parse_feature_syntax(first + i, text)).collect();
        // A syntax error anywhere in the chunk fails the read before any of it reaches `sink`.
        let mut results = Vec::with_capacity(parsed.len());
        for (i, p) in parsed.into_iter().enumerate() {
            results.push(p.map_err(|e| syntax_error(path, bytes, chunk[i].0, &e))?);
        }
        for (i, result) in results.into_iter().enumerate() {
            match result {
                Ok(feature) => sink(feature),
                Err((id, reason)) => report.reject(path, first + i, id, reason),
            }
        }
    }
    finish(path, &top, report, sink).map(Some)
}

/// The error for a syntax error `e` in the feature at byte `offset`: serde_json's own, from a
/// full read of the document; should that read find none, `e` placed at the feature.
fn syntax_error(path: &Path, bytes: &[u8], offset: usize, e: &serde_json::Error) -> LoadError {
    let mut discarded = LoadReport::default();
    if let Err(full) = read_document::<_, &RawValue>(path, serde_json::Deserializer::from_slice(bytes), &mut discarded, &mut drop) {
        return full;
    }
    let before = &bytes[..offset];
    let line = memchr::memchr_iter(b'\n', before).count() + 1;
    let column = before.len() - before.iter().rposition(|&b| b == b'\n').map_or(0, |n| n + 1) + 1;
    tracing::error!(path = %path.display(), offset, "the GeoJSON splitter and serde_json disagree");
    let (line, column) = if e.line() == 1 { (line, column + e.column() - 1) } else { (line + e.line() - 1, e.column()) };
    let message = e.to_string().split(" at line ").next().unwrap_or_default().to_owned();
    LoadError::Json { path: path.to_owned(), line, column, message }
}

/// Reads GeoJSON from a stream, holding one batch of features at a time; `path` is used in
/// messages only.
///
/// # Errors
/// An I/O error ([`LoadError::Read`]), malformed JSON (with line and column) or a document that
/// is not a Feature or FeatureCollection.
pub fn read_reader<R: BufRead>(
    path: &Path,
    mut reader: R,
    report: &mut LoadReport,
    sink: &mut dyn FnMut(RawFeature),
) -> Result<SourceInfo, LoadError> {
    let read_error = |source| LoadError::Read { path: path.to_owned(), source };
    // A UTF-8 BOM is not JSON but editors on Windows write it. `fill_buf` may return fewer than
    // three bytes only at the end of a (tiny) file, which is then not GeoJSON anyway. The
    // UTF-16 check comes after it, as in `read_slice` (fuzzing found the two disagreeing).
    if reader.fill_buf().map_err(read_error)?.starts_with(b"\xEF\xBB\xBF") {
        reader.consume(3);
    }
    utf16_error(path, reader.fill_buf().map_err(read_error)?)?;
    read_document::<_, Box<RawValue>>(path, serde_json::Deserializer::from_reader(reader), report, sink)
}

/// The streaming core shared by [`read_slice`] and [`read_reader`]: `T` is `&RawValue` when
/// borrowing from a slice, `Box<RawValue>` when copying out of a stream.
fn read_document<'de, R, T>(
    path: &Path,
    mut de: serde_json::Deserializer<R>,
    report: &mut LoadReport,
    sink: &mut dyn FnMut(RawFeature),
) -> Result<SourceInfo, LoadError>
where
    R: serde_json::de::Read<'de>,
    T: Deserialize<'de> + Deref<Target = RawValue> + Send + Sync,
{
    // From the second batch on, a scoped thread parses batch k (in parallel, on the rayon pool)
    // while this thread reads batch k + 1, so reading and parsing overlap. A document of one
    // batch (most files, and every small one) is parsed here without a thread.
    let top = std::thread::scope(|scope| {
        let start_parser = move || {
            let (to_parser, batches_in) = std::sync::mpsc::sync_channel::<(usize, Vec<T>)>(1);
            let (parsed_out, from_parser) = std::sync::mpsc::channel::<(usize, Vec<Parsed>)>();
            scope.spawn(move || {
                for (first, batch) in batches_in {
                    if parsed_out.send((first, parse_batch(first, &batch))).is_err() {
                        break;
                    }
                }
            });
            (to_parser, from_parser)
        };
        let mut batches = Batches {
            path,
            report: &mut *report,
            sink: &mut *sink,
            next_index: 0,
            start_parser: Some(Box::new(start_parser)),
            first_batch: None,
            parser: None,
            in_flight: 0,
        };
        let top = TopSeed::<T> { batches: &mut batches, marker: std::marker::PhantomData }
            .deserialize(&mut de)
            .and_then(|top| de.end().map(|()| top));
        if top.is_ok() {
            batches.finish();
        }
        top
    })
    .map_err(|e| {
        // A failed `read` of the stream is an I/O problem, not malformed JSON.
        if e.is_io() {
            LoadError::Read { path: path.to_owned(), source: e.into() }
        } else {
            json_error(path, &e)
        }
    })?;
    finish(path, &top, report, sink)
}

/// What the top-level members say: the declared CRS, and a single-Feature document's feature.
fn finish<T: Deref<Target = RawValue>>(
    path: &Path,
    top: &Top<T>,
    report: &mut LoadReport,
    sink: &mut dyn FnMut(RawFeature),
) -> Result<SourceInfo, LoadError> {
    let not_geojson = |message: String| LoadError::NotGeoJson { path: path.to_owned(), message };
    let declared_crs = match &top.crs {
        None => None,
        Some(raw) if raw.get() == "null" => None,
        Some(raw) => {
            let legacy: LegacyCrs = serde_json::from_str(raw.get()).map_err(|e| {
                not_geojson(format!("the `crs` member is not a named CRS ({e}); remove it (RFC 7946 data is CRS84) or write {{\"type\":\"name\",\"properties\":{{\"name\":\"EPSG:4490\"}}}}"))
            })?;
            legacy.properties.and_then(|p| p.name)
        }
    };
    match top.kind.as_deref() {
        Some("FeatureCollection") => {
            if !top.features {
                return Err(not_geojson("a FeatureCollection without a `features` array".to_owned()));
            }
        }
        Some("Feature") if top.features => {
            return Err(not_geojson("a Feature with a `features` member; expected a FeatureCollection".to_owned()));
        }
        Some("Feature") => {
            // A single-Feature document: its members were kept unparsed; reassemble and parse.
            let member = |v: &Option<T>| v.as_ref().map_or("null", |r| r.get()).to_owned();
            let id = top.id.as_ref().map_or(String::new(), |r| format!(",\"id\":{}", r.get()));
            let text = format!(
                "{{\"type\":\"Feature\"{id},\"geometry\":{},\"properties\":{}}}",
                member(&top.geometry),
                member(&top.properties)
            );
            match parse_feature(0, &text) {
                Ok(feature) => sink(feature),
                Err((id, reason)) => report.reject(path, 0, id, reason),
            }
        }
        Some(other) => {
            return Err(not_geojson(format!(
                "the top-level type is `{other}`; gapmap reads a FeatureCollection (or one Feature)"
            )))
        }
        None => return Err(not_geojson("no top-level `type`; expected a FeatureCollection".to_owned())),
    }
    Ok(SourceInfo { declared_crs, format: "GeoJSON".to_owned(), layer: None })
}

/// A parsed feature, or its id for messages and why it was rejected.
type Parsed = Result<RawFeature, (Option<String>, String)>;

/// Parses one batch of features in parallel.
fn parse_batch<T: Deref<Target = RawValue> + Sync>(first: usize, batch: &[T]) -> Vec<Parsed> {
    batch.par_iter().enumerate().map(|(i, raw)| parse_feature(first + i, raw.get())).collect()
}

/// The channels to and from the parsing thread.
type Parser<T> = (std::sync::mpsc::SyncSender<(usize, Vec<T>)>, std::sync::mpsc::Receiver<(usize, Vec<Parsed>)>);

/// Where features go: the first batch is held back; with a second, the parsing thread starts
/// and both are sent to it; what comes back is handed to the sink (or the report) in source
/// order.
struct Batches<'a, T> {
    path: &'a Path,
    report: &'a mut LoadReport,
    sink: &'a mut dyn FnMut(RawFeature),
    /// Index of the next feature read.
    next_index: usize,
    /// Starts the parsing thread (taken when it is started).
    start_parser: Option<Box<dyn FnOnce() -> Parser<T> + 'a>>,
    /// The first batch, until a second one arrives or the document ends.
    first_batch: Option<(usize, Vec<T>)>,
    parser: Option<Parser<T>>,
    /// Batches sent to the parser and not yet handed on.
    in_flight: usize,
}

impl<T: Deref<Target = RawValue> + Sync> Batches<'_, T> {
    /// Queues one batch, then hands on all but the newest parsed batch, so at most two batches
    /// are parsed or waiting while a third is read.
    fn flush(&mut self, batch: Vec<T>) {
        if batch.is_empty() {
            return;
        }
        let first = self.next_index;
        self.next_index += batch.len();
        if self.parser.is_none() {
            match (self.first_batch.take(), self.start_parser.take()) {
                (None, start) => {
                    self.first_batch = Some((first, batch));
                    self.start_parser = start;
                    return;
                }
                (Some(held), Some(start)) => {
                    self.parser = Some(start());
                    self.send(held);
                }
                // Not reached (the parser starts when the starter is taken); parse here anyway.
                (Some((held_first, held)), None) => {
                    for (f, b) in [(held_first, held), (first, batch)] {
                        let parsed = parse_batch(f, &b);
                        self.hand_on(f, parsed);
                    }
                    return;
                }
            }
        }
        self.send((first, batch));
        while self.in_flight > 1 {
            self.hand_on_one();
        }
    }

    fn send(&mut self, batch: (usize, Vec<T>)) {
        // A send fails only when the parser thread has died, whose panic the scope re-raises.
        if let Some((to_parser, _)) = &self.parser {
            if to_parser.send(batch).is_ok() {
                self.in_flight += 1;
            }
        }
    }

    /// Hands on every batch: the held one, parsed here, or those still with the parser.
    fn finish(&mut self) {
        if let Some((first, batch)) = self.first_batch.take() {
            let parsed = parse_batch(first, &batch);
            drop(batch);
            self.hand_on(first, parsed);
        }
        let Some((to_parser, from_parser)) = self.parser.take() else { return };
        drop(to_parser);
        for (first, parsed) in from_parser.iter().take(self.in_flight) {
            self.hand_on(first, parsed);
        }
        self.in_flight = 0;
    }

    fn hand_on_one(&mut self) {
        let received = self.parser.as_ref().and_then(|(_, from_parser)| from_parser.recv().ok());
        let Some((first, parsed)) = received else {
            self.in_flight = 0;
            return;
        };
        self.in_flight -= 1;
        self.hand_on(first, parsed);
    }

    fn hand_on(&mut self, first: usize, parsed: Vec<Parsed>) {
        for (i, result) in parsed.into_iter().enumerate() {
            match result {
                Ok(feature) => (self.sink)(feature),
                Err((id, reason)) => self.report.reject(self.path, first + i, id, reason),
            }
        }
    }
}

/// The top-level members gapmap looks at; a single-Feature document keeps its own members.
struct Top<T> {
    kind: Option<String>,
    /// Whether a `features` member was seen (its elements went straight to the sink).
    features: bool,
    crs: Option<T>,
    id: Option<T>,
    geometry: Option<T>,
    properties: Option<T>,
}

struct TopSeed<'b, 'a, T> {
    batches: &'b mut Batches<'a, T>,
    marker: std::marker::PhantomData<T>,
}

impl<'de, T> DeserializeSeed<'de> for TopSeed<'_, '_, T>
where
    T: Deserialize<'de> + Deref<Target = RawValue> + Send + Sync,
{
    type Value = Top<T>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Top<T>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, T> Visitor<'de> for TopSeed<'_, '_, T>
where
    T: Deserialize<'de> + Deref<Target = RawValue> + Send + Sync,
{
    type Value = Top<T>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a GeoJSON object (a FeatureCollection)")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top<T>, A::Error> {
        let mut top = Top { kind: None, features: false, crs: None, id: None, geometry: None, properties: None };
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match &*key {
                "type" => top.kind = map.next_value()?,
                "features" => {
                    if top.features {
                        return Err(de::Error::duplicate_field("features"));
                    }
                    top.features = map.next_value_seed(FeaturesSeed::<T> { batches: &mut *self.batches, marker: std::marker::PhantomData })?;
                }
                "crs" => top.crs = Some(map.next_value()?),
                "id" => top.id = Some(map.next_value()?),
                "geometry" => top.geometry = Some(map.next_value()?),
                "properties" => top.properties = Some(map.next_value()?),
                _ => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        Ok(top)
    }
}

/// Visits the `features` array one element at a time; `null` counts as absent.
struct FeaturesSeed<'b, 'a, T> {
    batches: &'b mut Batches<'a, T>,
    marker: std::marker::PhantomData<T>,
}

impl<'de, T> DeserializeSeed<'de> for FeaturesSeed<'_, '_, T>
where
    T: Deserialize<'de> + Deref<Target = RawValue> + Send + Sync,
{
    type Value = bool;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T> Visitor<'de> for FeaturesSeed<'_, '_, T>
where
    T: Deserialize<'de> + Deref<Target = RawValue> + Send + Sync,
{
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of features")
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let mut batch: Vec<T> = Vec::new();
        let mut bytes = 0usize;
        while let Some(raw) = seq.next_element::<T>()? {
            bytes += raw.get().len();
            batch.push(raw);
            if batch.len() == CHUNK || bytes >= CHUNK_BYTES {
                self.batches.flush(std::mem::take(&mut batch));
                bytes = 0;
            }
        }
        self.batches.flush(batch);
        Ok(true)
    }
}

/// Most features parsed per parallel batch.
const CHUNK: usize = 32_768;

/// Most feature text per batch: bounds memory when features are large.
const CHUNK_BYTES: usize = 8 << 20;

fn json_error(path: &Path, e: &serde_json::Error) -> LoadError {
    let mut message = e.to_string().split(" at line ").next().unwrap_or_default().to_owned();
    if message == "invalid unicode code point" {
        // Mostly GBK/GB18030 exports from older Chinese GIS tools.
        message.push_str(" (the file is not UTF-8, which JSON requires; re-save it as UTF-8, e.g. iconv -f GB18030 -t UTF-8)");
    }
    LoadError::Json { path: path.to_owned(), line: e.line(), column: e.column(), message }
}

/// A UTF-16 byte-order mark: JSON exchanged between systems must be UTF-8 (RFC 8259 §8.1).
fn utf16_error(path: &Path, start: &[u8]) -> Result<(), LoadError> {
    if start.starts_with(b"\xFF\xFE") || start.starts_with(b"\xFE\xFF") {
        return Err(LoadError::NotGeoJson {
            path: path.to_owned(),
            message: "the file is UTF-16; GeoJSON must be UTF-8 (re-save it as UTF-8)".to_owned(),
        });
    }
    Ok(())
}

/// A feature's members, its geometry as `G`: parsed inline ([`GeometryDe`]), or kept as raw
/// text (`&RawValue`) to be parsed on its own.
#[derive(Deserialize)]
struct FeatureDe<'a, G> {
    /// Borrowed unless escaped: an allocation per feature otherwise.
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default)]
    id: Option<IdDe>,
    // Spelled out: a plain `default` would require `G: Default`.
    #[serde(default = "Option::default")]
    geometry: Option<G>,
    #[serde(default)]
    properties: Option<PropertiesDe>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum IdDe {
    Int(i64),
    Float(f64),
    Text(String),
}

impl IdDe {
    fn into_feature_id(self) -> FeatureId {
        match self {
            Self::Int(n) => FeatureId::Int(n),
            Self::Float(x) => FeatureId::Text(x.to_string()),
            Self::Text(s) => FeatureId::Text(s),
        }
    }
}

fn parse_feature(index: usize, text: &str) -> Parsed {
    parse_feature_syntax(index, text).unwrap_or_else(|e| Err((None, format!("not a GeoJSON feature: {e}"))))
}

/// [`parse_feature`], with a JSON syntax error (not a rejection, but a malformed file) apart.
/// serde_json stops at the first error, so whatever it reports (a duplicate member, a number out
/// of range…), the feature counts as malformed JSON exactly when a scan of its raw value fails,
/// as when [`read_document`] has scanned the feature first.
fn parse_feature_syntax(index: usize, text: &str) -> Result<Parsed, serde_json::Error> {
    // One pass, the geometry parsed inline. Where that fails (malformed JSON, or a member of the
    // wrong type), the two-pass parse below gives the error, as it did before the one-pass parse
    // existed: the geometry as raw text first, then parsed on its own, so that its problems
    // reject the feature with "invalid geometry" and a position within the geometry.
    if let Ok(feature) = serde_json::from_str::<FeatureDe<'_, GeometryDe<'_>>>(text) {
        return Ok(feature_from_de(index, feature, |g| geometry_of(g).map(Some)));
    }
    let feature: FeatureDe<'_, &RawValue> = match serde_json::from_str(text) {
        Ok(feature) => feature,
        Err(e) => {
            serde_json::from_str::<&RawValue>(text)?;
            return Ok(Err((None, format!("not a GeoJSON feature: {e}"))));
        }
    };
    Ok(feature_from_de(index, feature, |raw| if raw.get() == "null" { Ok(None) } else { parse_geometry(raw.get()).map(Some) }))
}

/// The feature of its parsed members, or why it is rejected; `geometry` makes the geometry of
/// the `geometry` member when there is one (`None`: null).
fn feature_from_de<G>(
    index: usize,
    feature: FeatureDe<'_, G>,
    geometry: impl FnOnce(G) -> Result<Option<Geometry<f64>>, String>,
) -> Parsed {
    let fid = feature.id.map(IdDe::into_feature_id);
    let properties = feature.properties.map(|p| p.0).unwrap_or_default();
    // Rendered only for a rejection: formatting every feature's id cost an allocation each.
    let id_for_messages = || {
        properties
            .iter()
            .find(|(k, _)| k == "id")
            .map(|(_, v)| v.to_string())
            .or_else(|| fid.as_ref().map(ToString::to_string))
    };
    if feature.kind.as_deref() != Some("Feature") {
        return Err((
            id_for_messages(),
            format!("`type` is {:?}, expected \"Feature\"", feature.kind.unwrap_or_default()),
        ));
    }
    let geometry = match feature.geometry {
        None => None,
        Some(g) => geometry(g).map_err(|e| (id_for_messages(), e))?,
    };
    Ok(RawFeature { index, fid, geometry, properties })
}

#[derive(Deserialize)]
struct GeometryDe<'a> {
    /// Borrowed unless escaped: an allocation per feature otherwise.
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    coordinates: Option<Coords>,
    #[serde(default)]
    geometries: Option<Vec<Box<serde_json::value::RawValue>>>,
}

/// Coordinates of any nesting depth, positions reduced to (x, y).
enum Coords {
    Position(Coord<f64>),
    List(Vec<Coords>),
}

impl<'de> Deserialize<'de> for Coords {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Coords;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a position or an array of positions")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Coords, A::Error> {
                // Peek at the first element: a number means this array is a position.
                let Some(first) = seq.next_element::<NumOrCoords>()? else {
                    return Ok(Coords::List(Vec::new()));
                };
                match first {
                    NumOrCoords::Num(x) => {
                        let y: f64 = seq
                            .next_element()?
                            .ok_or_else(|| de::Error::custom("a position needs at least two numbers"))?;
                        // Altitude and measures are ignored: coverage is planar.
                        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                        Ok(Coords::Position(Coord { x, y }))
                    }
                    NumOrCoords::Coords(c) => {
                        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(8) + 1);
                        items.push(c);
                        while let Some(c) = seq.next_element::<Coords>()? {
                            items.push(c);
                        }
                        Ok(Coords::List(items))
                    }
                }
            }
        }
        d.deserialize_seq(V)
    }
}

enum NumOrCoords {
    Num(f64),
    Coords(Coords),
}

impl<'de> Deserialize<'de> for NumOrCoords {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NumOrCoords;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or an array")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<NumOrCoords, E> {
                Ok(NumOrCoords::Num(v))
            }
            #[expect(clippy::cast_precision_loss, reason = "coordinates are f64 by definition")]
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<NumOrCoords, E> {
                Ok(NumOrCoords::Num(v as f64))
            }
            #[expect(clippy::cast_precision_loss, reason = "coordinates are f64 by definition")]
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<NumOrCoords, E> {
                Ok(NumOrCoords::Num(v as f64))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<NumOrCoords, A::Error> {
                Coords::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(NumOrCoords::Coords)
            }
        }
        d.deserialize_any(V)
    }
}

fn parse_geometry(text: &str) -> Result<Geometry<f64>, String> {
    geometry_of(serde_json::from_str(text).map_err(|e| format!("invalid geometry: {e}"))?)
}

/// The geometry a parsed `geometry` member describes, or what is wrong with it.
fn geometry_of(g: GeometryDe<'_>) -> Result<Geometry<f64>, String> {
    if g.kind == "GeometryCollection" {
        let members = g.geometries.ok_or("a GeometryCollection without `geometries`")?;
        let parts: Result<Vec<_>, _> = members.iter().map(|m| parse_geometry(m.get())).collect();
        return Ok(Geometry::GeometryCollection(geo::GeometryCollection(parts?)));
    }
    let coords = g.coordinates.ok_or_else(|| format!("a {} without `coordinates`", g.kind))?;
    match &*g.kind {
        "Point" => Ok(Geometry::Point(Point(position(&coords)?))),
        "MultiPoint" => Ok(Geometry::MultiPoint(
            list(&coords)?.iter().map(|c| position(c).map(Point)).collect::<Result<Vec<_>, _>>()?.into(),
        )),
        "LineString" => Ok(Geometry::LineString(line(&coords)?)),
        "MultiLineString" => Ok(Geometry::MultiLineString(geo::MultiLineString(
            list(&coords)?.iter().map(line).collect::<Result<_, _>>()?,
        ))),
        "Polygon" => Ok(Geometry::Polygon(polygon(&coords, None)?)),
        "MultiPolygon" => {
            let parts = list(&coords)?;
            let polygons = parts
                .iter()
                .enumerate()
                .map(|(i, p)| polygon(p, Some(i)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Geometry::MultiPolygon(MultiPolygon(polygons)))
        }
        other => Err(format!("unknown geometry type `{other}`")),
    }
}

fn position(c: &Coords) -> Result<Coord<f64>, String> {
    match c {
        Coords::Position(p) => Ok(*p),
        Coords::List(items) if items.is_empty() => Err("empty position: a position needs at least two numbers".to_owned()),
        Coords::List(_) => Err("expected a position [x, y], found a nested array".to_owned()),
    }
}

fn list(c: &Coords) -> Result<&[Coords], String> {
    match c {
        Coords::List(items) => Ok(items),
        Coords::Position(_) => Err("expected an array of positions, found a single position".to_owned()),
    }
}

fn line(c: &Coords) -> Result<LineString<f64>, String> {
    list(c)?.iter().map(position).collect::<Result<Vec<_>, _>>().map(LineString)
}

fn polygon(c: &Coords, part: Option<usize>) -> Result<Polygon<f64>, String> {
    let where_ = |ring: usize| {
        let ring_name = if ring == 0 { "exterior ring".to_owned() } else { format!("hole {ring}") };
        match part {
            Some(p) => format!("polygon {p}, {ring_name}"),
            None => ring_name,
        }
    };
    let mut rings = Vec::new();
    for (r, ring) in list(c)?.iter().enumerate() {
        let ring = line(ring)?;
        let n = ring.0.len();
        if n > 0 && ring.0[0] != ring.0[n - 1] {
            return Err(format!("{} is not closed: its first and last positions differ", where_(r)));
        }
        rings.push(ring);
    }
    let mut rings = rings.into_iter();
    let exterior = rings.next().ok_or("a polygon with no rings")?;
    Ok(Polygon::new(exterior, rings.collect()))
}

/// Properties as an ordered list of (key, value).
struct PropertiesDe(Attributes);

impl<'de> Deserialize<'de> for PropertiesDe {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PropertiesDe;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a properties object or null")
            }
            fn visit_unit<E: de::Error>(self) -> Result<PropertiesDe, E> {
                Ok(PropertiesDe(Vec::new()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PropertiesDe, A::Error> {
                let mut out: Attributes = Vec::with_capacity(map.size_hint().unwrap_or(8));
                // A repeated key is rejected: which value is meant is anyone's guess (RFC 8259
                // §4), and keeping either would drop the other silently. A set takes over from
                // the linear scan once a feature has many properties, so a hostile one with
                // 100,000 keys costs O(n), not O(n²).
                let mut seen: Option<std::collections::HashSet<String>> = None;
                while let Some(key) = map.next_key::<String>()? {
                    let repeated = if let Some(set) = &mut seen {
                        !set.insert(key.clone())
                    } else {
                        let repeated = out.iter().any(|(k, _)| *k == key);
                        if out.len() >= 32 {
                            seen = Some(out.iter().map(|(k, _)| k.clone()).chain(std::iter::once(key.clone())).collect());
                        }
                        repeated
                    };
                    if repeated {
                        return Err(de::Error::custom(format_args!("property `{key}` is given more than once")));
                    }
                    let value = map.next_value_seed(AttrSeed)?;
                    out.push((key, value));
                }
                Ok(PropertiesDe(out))
            }
        }
        d.deserialize_any(V)
    }
}

struct AttrSeed;

impl<'de> DeserializeSeed<'de> for AttrSeed {
    type Value = AttrValue;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<AttrValue, D::Error> {
        d.deserialize_any(self)
    }
}

/// Straight to [`AttrValue`], without a `serde_json::Value` in between for scalars (the same
/// mapping as through one: integers in i64 range are `Int`, other numbers `Float`).
impl<'de> Visitor<'de> for AttrSeed {
    type Value = AttrValue;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a property value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<AttrValue, E> {
        Ok(AttrValue::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<AttrValue, E> {
        Ok(AttrValue::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<AttrValue, E> {
        Ok(AttrValue::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<AttrValue, E> {
        Ok(AttrValue::Int(v))
    }
    #[expect(clippy::cast_precision_loss, reason = "as serde_json's `as_f64` does beyond i64")]
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<AttrValue, E> {
        Ok(i64::try_from(v).map_or(AttrValue::Float(v as f64), AttrValue::Int))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<AttrValue, E> {
        Ok(AttrValue::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<AttrValue, E> {
        Ok(AttrValue::Text(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<AttrValue, E> {
        Ok(AttrValue::Text(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<AttrValue, A::Error> {
        let value = serde_json::Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        Ok(AttrValue::Json(value.to_string()))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<AttrValue, A::Error> {
        let value = serde_json::Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(AttrValue::Json(value.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> (Result<SourceInfo, LoadError>, Vec<RawFeature>, LoadReport) {
        let mut report = LoadReport::default();
        let mut out = Vec::new();
        let r = read_slice(Path::new("t.geojson"), text.as_bytes(), &mut report, &mut |f| out.push(f));
        (r, out, report)
    }

    #[test]
    fn reads_polygons_points_and_properties_in_order() {
        let (r, features, report) = read(
            r#"{"type":"FeatureCollection","features":[
            {"type":"Feature","id":7,"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1,5],[0,0]]]},"properties":{"z":1,"a":"x","n":null,"o":{"k":[1,2]},"f":1.5}},
            {"type":"Feature","geometry":{"type":"Point","coordinates":[114.5,38.0]},"properties":null}]}"#,
        );
        assert!(r.is_ok());
        assert!(report.rejected.is_empty());
        assert_eq!(features.len(), 2);
        assert_eq!(features[0].fid, Some(FeatureId::Int(7)));
        let keys: Vec<_> = features[0].properties.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["z", "a", "n", "o", "f"]);
        assert_eq!(features[0].properties[3].1, AttrValue::Json(r#"{"k":[1,2]}"#.to_owned()));
        assert!(matches!(features[1].geometry, Some(Geometry::Point(_))));
    }

    #[test]
    fn malformed_json_names_line_and_column() {
        let (r, _, _) = read("{\"type\":\"FeatureCollection\",\n\"features\":[{]}");
        match r {
            Err(LoadError::Json { line, column, .. }) => assert_eq!((line, column), (2, 14)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn nan_is_malformed_json() {
        let (r, _, _) = read(r#"{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[NaN,1]},"properties":{}}]}"#);
        assert!(matches!(r, Err(LoadError::Json { line: 1, .. })));
    }

    #[test]
    fn bad_features_are_rejected_not_fatal() {
        let (r, features, report) = read(
            r#"{"type":"FeatureCollection","features":[
            {"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1]]]},"properties":{"id":"a"}},
            {"type":"Feature","geometry":{"type":"Polygon","coordinates":"x"},"properties":{"id":"b"}},
            {"type":"Feature","geometry":{"type":"Hexagon","coordinates":[]},"properties":{"id":"c"}},
            {"type":"Feature","geometry":null,"properties":{"id":"d"}}]}"#,
        );
        assert!(r.is_ok());
        assert_eq!(features.len(), 1, "the null geometry is kept for the loader to reject");
        let reasons: Vec<_> = report.rejected.iter().map(|r| (r.index, r.id.clone().unwrap_or_default(), r.reason.clone())).collect();
        assert_eq!(reasons.len(), 3);
        assert!(reasons[0].2.contains("not closed"), "{reasons:?}");
        assert_eq!(reasons[1].1, "b");
        assert!(reasons[2].2.contains("Hexagon"));
    }

    #[test]
    fn legacy_crs_member_is_declared() {
        let (r, _, _) = read(r#"{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::4490"}},"features":[]}"#);
        assert_eq!(r.expect("valid").declared_crs.as_deref(), Some("urn:ogc:def:crs:EPSG::4490"));
    }

    #[test]
    fn not_a_collection() {
        let (r, _, _) = read(r#"{"type":"Topology"}"#);
        assert!(matches!(r, Err(LoadError::NotGeoJson { .. })));
    }
}
