//! The IDX file format (LeCun's format for MNIST and its relatives), raw or gzipped.
//!
//! An IDX file is a big-endian header followed by the data: a magic number `00 00 TT DD` (`TT`
//! the element type, `0x08` for unsigned bytes; `DD` the number of dimensions), one `u32` per
//! dimension, then the elements in row-major order. mortalsim reads the two kinds that image
//! classification needs:
//!
//! - images: magic [`IMAGES_MAGIC`] (`u8`, 3 dimensions: count, rows, columns);
//! - labels: magic [`LABELS_MAGIC`] (`u8`, 1 dimension: count).
//!
//! A file starting with the gzip magic bytes `1f 8b` is decompressed first, so `*.gz` and raw
//! files are read alike. Any image size and any label values are accepted, so Fashion-MNIST,
//! EMNIST or one's own data load the same way as MNIST. Bad bytes never panic: a short file, a
//! wrong magic number, unusable dimensions or trailing bytes each give a [`DataError`] naming
//! the file.

use super::DataError;
use flate2::read::GzDecoder;
use std::io::{ErrorKind, Read};
use std::path::Path;

/// Magic number of an IDX image file: unsigned bytes, 3 dimensions (count, rows, columns).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX label file: unsigned bytes, 1 dimension (count).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// The first two bytes of a gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The contents of an IDX image file.
#[derive(Clone, PartialEq, Eq)]
pub struct IdxImages {
    /// Number of images.
    pub count: usize,
    /// Rows of each image.
    pub rows: usize,
    /// Columns of each image.
    pub cols: usize,
    /// The pixels, image after image, each image row-major (`count × rows × cols` bytes).
    pub pixels: Vec<u8>,
}

impl std::fmt::Debug for IdxImages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdxImages")
            .field("count", &self.count)
            .field("rows", &self.rows)
            .field("cols", &self.cols)
            .field("pixels", &format_args!("[{} bytes]", self.pixels.len()))
            .finish()
    }
}

/// Reads a whole file, decompressing it if it is gzipped (it starts with `1f 8b`).
///
/// A file that does not exist gives [`DataError::MissingFile`]; a gzip stream that ends early
/// gives [`DataError::Truncated`]; any other failure gives [`DataError::Io`].
pub fn read_file(path: &Path) -> Result<Vec<u8>, DataError> {
    let (bytes, complete) = read_bytes(path)?;
    if complete {
        Ok(bytes)
    } else {
        Err(truncated_stream(path, bytes.len()))
    }
}

/// Reads an IDX image file (raw or gzipped); see [`parse_images`].
pub fn read_images(path: &Path) -> Result<IdxImages, DataError> {
    images_from_bytes(&read_raw(path)?, path)
}

/// Reads an IDX label file (raw or gzipped); see [`parse_labels`].
pub fn read_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    labels_from_bytes(&read_raw(path)?, path)
}

/// Decodes the bytes of an IDX image file as stored (raw, or gzipped when they start with
/// `1f 8b`); `path` only names the file in errors. A gzip stream is decompressed only as far as
/// its IDX header promises (and one byte more, to report trailing bytes), after checking that
/// size against the memory available, so a small hostile file cannot make a huge allocation.
pub fn images_from_bytes(raw: &[u8], path: &Path) -> Result<IdxImages, DataError> {
    let (bytes, complete) = decode(raw, path, Some((IMAGES_MAGIC, 3)))?;
    let found = bytes.len();
    match parse_images(bytes, path) {
        Ok(_) if !complete => Err(truncated_stream(path, found)),
        r => r,
    }
}

/// Decodes the bytes of an IDX label file as stored (raw or gzipped); see
/// [`images_from_bytes`].
pub fn labels_from_bytes(raw: &[u8], path: &Path) -> Result<Vec<u8>, DataError> {
    let (bytes, complete) = decode(raw, path, Some((LABELS_MAGIC, 1)))?;
    match parse_labels(bytes, path) {
        Ok(b) if !complete => Err(truncated_stream(path, 8 + b.len())),
        r => r,
    }
}

/// The error for a gzip stream that ends early, after decompressing to `found` bytes.
fn truncated_stream(path: &Path, found: usize) -> DataError {
    DataError::Truncated {
        path: path.to_path_buf(),
        expected: None,
        found: found as u64,
    }
}

/// The bytes of a file as stored (its size checked against the memory available first).
fn read_raw(path: &Path) -> Result<Vec<u8>, DataError> {
    if let Ok(meta) = std::fs::metadata(path) {
        crate::memory::check(&path.display().to_string(), meta.len()).map_err(|message| {
            DataError::UnsupportedDimensions {
                path: path.to_path_buf(),
                message,
            }
        })?;
    }
    std::fs::read(path).map_err(|e| match e.kind() {
        ErrorKind::NotFound => DataError::MissingFile {
            path: path.to_path_buf(),
            also_tried: Vec::new(),
        },
        _ => DataError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        },
    })
}

/// The bytes of a file, decompressed if gzipped, and whether they are complete (`false` when a
/// gzip stream ends early: the bytes are then what could be decompressed, so that the IDX
/// header can still say how many bytes were promised).
fn read_bytes(path: &Path) -> Result<(Vec<u8>, bool), DataError> {
    decode(&read_raw(path)?, path, None)
}

/// `raw` decompressed if gzipped, and whether the stream was complete. With `idx =
/// Some((magic, ndims))` the decompressed bytes are to be an IDX file of that kind: when its
/// header has that magic number, the stream is decompressed up to the header plus the product
/// of its dimensions plus one byte and no further (the parser then reports trailing bytes), and
/// that size is checked against the memory available first; with another magic number only the
/// header is decompressed (the parser reports it).
fn decode(
    raw: &[u8],
    path: &Path,
    idx: Option<(u32, usize)>,
) -> Result<(Vec<u8>, bool), DataError> {
    if !raw.starts_with(&GZIP_MAGIC) {
        return Ok((raw.to_vec(), true));
    }
    let corrupt = |e: std::io::Error| DataError::Io {
        path: path.to_path_buf(),
        message: format!("corrupt gzip stream: {e}"),
    };
    let mut stream = GzDecoder::new(raw);
    let mut out = Vec::new();
    let mut limit = u64::MAX;
    if let Some((magic, ndims)) = idx {
        let header_len = 4 + 4 * ndims;
        match (&mut stream).take(header_len as u64).read_to_end(&mut out) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok((out, false)),
            Err(e) => return Err(corrupt(e)),
        }
        let word = |i: usize| u32::from_be_bytes([out[i], out[i + 1], out[i + 2], out[i + 3]]);
        if out.len() < header_len || word(0) != magic {
            return Ok((out, true));
        }
        let promised = (1..=ndims)
            .map(|i| u128::from(word(4 * i)))
            .product::<u128>();
        let bytes = u64::try_from(promised).unwrap_or(u64::MAX);
        crate::memory::check(&format!("{} (as its header says)", path.display()), bytes).map_err(
            |message| DataError::UnsupportedDimensions {
                path: path.to_path_buf(),
                message,
            },
        )?;
        limit = bytes.saturating_add(1);
        // Reserve no more than deflate can expand this input to (about 1032:1): a header that
        // lies costs nothing.
        let most = (raw.len() as u64).saturating_mul(1032);
        out.reserve(usize::try_from(bytes.min(most)).unwrap_or(0));
    }
    match stream.take(limit).read_to_end(&mut out) {
        Ok(_) => Ok((out, true)),
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => Ok((out, false)),
        Err(e) => Err(corrupt(e)),
    }
}

/// Parses the (decompressed) bytes of an IDX image file; `path` only names the file in errors.
///
/// The magic number must be [`IMAGES_MAGIC`], rows and columns must be non-zero, and the file
/// must hold exactly `16 + count × rows × cols` bytes.
pub fn parse_images(mut bytes: Vec<u8>, path: &Path) -> Result<IdxImages, DataError> {
    let dims = header(&bytes, path, IMAGES_MAGIC, 3)?;
    let (count, rows, cols) = (dims[0], dims[1], dims[2]);
    if count > 0 && (rows == 0 || cols == 0) {
        return Err(DataError::UnsupportedDimensions {
            path: path.to_path_buf(),
            message: format!(
                "{count} images of {rows}×{cols} pixels (rows and columns must be > 0)"
            ),
        });
    }
    // count × rows × cols < 2⁹⁶ cannot overflow u128.
    check_len(&bytes, path, 16 + count * rows * cols)?;
    let too_big = || DataError::UnsupportedDimensions {
        path: path.to_path_buf(),
        message: format!("{count} images of {rows}×{cols} pixels do not fit in memory"),
    };
    let count = usize::try_from(count).map_err(|_| too_big())?;
    let rows = usize::try_from(rows).map_err(|_| too_big())?;
    let cols = usize::try_from(cols).map_err(|_| too_big())?;
    bytes.drain(..16);
    bytes.shrink_to_fit();
    Ok(IdxImages {
        count,
        rows,
        cols,
        pixels: bytes,
    })
}

/// Parses the (decompressed) bytes of an IDX label file; `path` only names the file in errors.
///
/// The magic number must be [`LABELS_MAGIC`] and the file must hold exactly `8 + count` bytes.
pub fn parse_labels(mut bytes: Vec<u8>, path: &Path) -> Result<Vec<u8>, DataError> {
    let dims = header(&bytes, path, LABELS_MAGIC, 1)?;
    check_len(&bytes, path, 8 + dims[0])?;
    bytes.drain(..8);
    bytes.shrink_to_fit();
    Ok(bytes)
}

/// Checks the magic number and returns the `ndims` dimensions of an IDX header.
fn header(bytes: &[u8], path: &Path, magic: u32, ndims: usize) -> Result<Vec<u128>, DataError> {
    let header_len = 4 + 4 * ndims;
    let word = |i: usize| {
        bytes
            .get(4 * i..4 * i + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let truncated = || DataError::Truncated {
        path: path.to_path_buf(),
        expected: Some(header_len as u64),
        found: bytes.len() as u64,
    };
    let found = word(0).ok_or_else(truncated)?;
    if found != magic {
        return Err(DataError::WrongMagic {
            path: path.to_path_buf(),
            found,
            expected: magic,
        });
    }
    (1..=ndims)
        .map(|i| word(i).map(u128::from).ok_or_else(truncated))
        .collect()
}

/// Checks that `bytes` holds exactly `expected` bytes.
fn check_len(bytes: &[u8], path: &Path, expected: u128) -> Result<(), DataError> {
    let found = bytes.len() as u128;
    let to_u64 = |x: u128| u64::try_from(x).unwrap_or(u64::MAX);
    if found < expected {
        Err(DataError::Truncated {
            path: path.to_path_buf(),
            expected: Some(to_u64(expected)),
            found: to_u64(found),
        })
    } else if found > expected {
        Err(DataError::TrailingBytes {
            path: path.to_path_buf(),
            expected: to_u64(expected),
            found: to_u64(found),
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images_bytes(count: u32, rows: u32, cols: u32) -> Vec<u8> {
        let mut b = IMAGES_MAGIC.to_be_bytes().to_vec();
        for d in [count, rows, cols] {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b.extend((0..count * rows * cols).map(|i| (i % 251) as u8));
        b
    }

    fn labels_bytes(labels: &[u8]) -> Vec<u8> {
        let mut b = LABELS_MAGIC.to_be_bytes().to_vec();
        b.extend_from_slice(&(labels.len() as u32).to_be_bytes());
        b.extend_from_slice(labels);
        b
    }

    #[test]
    fn parses_images_and_labels() {
        let p = Path::new("x");
        let im = parse_images(images_bytes(2, 3, 4), p).unwrap();
        assert_eq!((im.count, im.rows, im.cols), (2, 3, 4));
        assert_eq!(im.pixels, (0..24).collect::<Vec<u8>>());
        assert_eq!(parse_labels(labels_bytes(&[3, 1]), p).unwrap(), vec![3, 1]);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let p = Path::new("im.idx");
        let full = images_bytes(3, 2, 5);
        for n in 0..full.len() {
            match parse_images(full[..n].to_vec(), p) {
                Err(DataError::Truncated { path, found, .. }) => {
                    assert_eq!(path, p);
                    assert_eq!(found, n as u64);
                }
                other => panic!("{n} bytes: {other:?}"),
            }
        }
        let full = labels_bytes(&[1, 2, 3]);
        for n in 0..full.len() {
            assert!(matches!(
                parse_labels(full[..n].to_vec(), p),
                Err(DataError::Truncated { .. })
            ));
        }
    }

    #[test]
    fn header_size_is_checked_before_anything_is_allocated() {
        // count × rows × cols = 2⁹⁶ − …: must be a clean error.
        let mut b = IMAGES_MAGIC.to_be_bytes().to_vec();
        for _ in 0..3 {
            b.extend_from_slice(&u32::MAX.to_be_bytes());
        }
        let e = parse_images(b, Path::new("huge")).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::Truncated {
                    expected: Some(u64::MAX),
                    found: 16,
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn zero_sized_images_are_unsupported_and_trailing_bytes_are_reported() {
        let p = Path::new("z");
        let e = parse_images(images_bytes(2, 0, 4), p).unwrap_err();
        assert!(
            matches!(e, DataError::UnsupportedDimensions { .. }),
            "{e:?}"
        );
        assert!(
            e.to_string().starts_with("z: unsupported dimensions"),
            "{e}"
        );
        let mut b = labels_bytes(&[1]);
        b.push(0);
        let e = parse_labels(b, p).unwrap_err();
        assert_eq!(
            e,
            DataError::TrailingBytes {
                path: p.into(),
                expected: 9,
                found: 10
            }
        );
        // An empty dataset is fine.
        assert_eq!(parse_images(images_bytes(0, 28, 28), p).unwrap().count, 0);
    }

    #[test]
    fn wrong_magic_says_what_was_found_and_expected() {
        let e = parse_images(labels_bytes(&[1, 2]), Path::new("a/b.idx")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "a/b.idx: wrong magic number 0x00000801 (IDX unsigned bytes, 1 dimension), \
             expected 0x00000803 (IDX unsigned bytes, 3 dimensions)"
        );
        let e = parse_labels(b"GIF89a-not-idx".to_vec(), Path::new("c")).unwrap_err();
        assert!(matches!(
            e,
            DataError::WrongMagic {
                found: 0x4749_4638,
                ..
            }
        ));
        assert!(e.to_string().contains("not an IDX file"), "{e}");
    }
}
