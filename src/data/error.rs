//! The errors of the data room: every one names the file or directory at fault.

use std::fmt;
use std::path::PathBuf;

/// An error while loading or building a dataset. Every variant that concerns a file names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataError {
    /// The data directory does not exist (or is not a directory).
    MissingDirectory {
        /// The directory that was looked for.
        dir: PathBuf,
        /// The files that were to be loaded from it (`name[.gz]`).
        looked_for: Vec<String>,
    },
    /// A data file does not exist.
    MissingFile {
        /// The file that was looked for.
        path: PathBuf,
        /// Other names that were tried for the same file (the raw and gzipped variants).
        also_tried: Vec<PathBuf>,
    },
    /// A data file exists but cannot be read (permissions, a corrupt gzip stream, …).
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A data file holds fewer bytes than its header promises.
    Truncated {
        /// The file.
        path: PathBuf,
        /// Bytes the header promises (after decompression), when the header could be read.
        expected: Option<u64>,
        /// Bytes found (after decompression).
        found: u64,
    },
    /// A data file holds more bytes than its header promises.
    TrailingBytes {
        /// The file.
        path: PathBuf,
        /// Bytes the header promises (after decompression).
        expected: u64,
        /// Bytes found (after decompression).
        found: u64,
    },
    /// A data file starts with the wrong IDX magic number.
    WrongMagic {
        /// The file.
        path: PathBuf,
        /// The magic number found (the first four bytes, big-endian).
        found: u32,
        /// The magic number expected.
        expected: u32,
    },
    /// An image file and a label file hold different numbers of samples.
    MismatchedCounts {
        /// The image file.
        images: PathBuf,
        /// Number of images it holds.
        image_count: usize,
        /// The label file.
        labels: PathBuf,
        /// Number of labels it holds.
        label_count: usize,
    },
    /// A data file's dimensions cannot be used (zero rows or columns, a size that overflows).
    UnsupportedDimensions {
        /// The file.
        path: PathBuf,
        /// What is wrong with the dimensions.
        message: String,
    },
    /// A label file's labels do not make a set of classes (see
    /// [`crate::data::Split::load_dir`]): a stray label beyond the classes, or a test label the
    /// training set does not have.
    Labels {
        /// The label file.
        path: PathBuf,
        /// Which label, and why.
        message: String,
    },
    /// A dataset built in memory is inconsistent (see [`crate::data::Dataset::from_parts`]).
    Invalid {
        /// What is wrong.
        message: String,
    },
}

/// A human description of an IDX magic number: its element type and number of dimensions.
pub(crate) fn describe_magic(magic: u32) -> String {
    let [z0, z1, ty, dims] = magic.to_be_bytes();
    if z0 != 0 || z1 != 0 {
        return "not an IDX file".to_string();
    }
    let ty = match ty {
        0x08 => "unsigned bytes",
        0x09 => "signed bytes",
        0x0B => "16-bit integers",
        0x0C => "32-bit integers",
        0x0D => "32-bit floats",
        0x0E => "64-bit floats",
        _ => return format!("not an IDX file (unknown element type 0x{ty:02x})"),
    };
    let s = if dims == 1 { "" } else { "s" };
    format!("IDX {ty}, {dims} dimension{s}")
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataError::MissingDirectory { dir, looked_for } => {
                write!(
                    f,
                    "{}: data directory not found (or not a directory); it should hold {}",
                    dir.display(),
                    looked_for.join(", ")
                )
            }
            DataError::MissingFile { path, also_tried } => {
                write!(f, "{}: file not found", path.display())?;
                if !also_tried.is_empty() {
                    let tried: Vec<String> =
                        also_tried.iter().map(|p| p.display().to_string()).collect();
                    write!(f, " (also looked for {})", tried.join(", "))?;
                }
                Ok(())
            }
            DataError::Io { path, message } => {
                write!(f, "{}: cannot read: {message}", path.display())
            }
            DataError::Truncated {
                path,
                expected: Some(expected),
                found,
            } => write!(
                f,
                "{}: truncated file: its header promises {expected} bytes but it holds only {found}",
                path.display()
            ),
            DataError::Truncated {
                path,
                expected: None,
                found,
            } => write!(
                f,
                "{}: truncated file: it ends after {found} bytes, before its end",
                path.display()
            ),
            DataError::TrailingBytes {
                path,
                expected,
                found,
            } => write!(
                f,
                "{}: its header promises {expected} bytes but it holds {found} (trailing bytes)",
                path.display()
            ),
            DataError::WrongMagic {
                path,
                found,
                expected,
            } => write!(
                f,
                "{}: wrong magic number 0x{found:08x} ({}), expected 0x{expected:08x} ({})",
                path.display(),
                describe_magic(*found),
                describe_magic(*expected)
            ),
            DataError::MismatchedCounts {
                images,
                image_count,
                labels,
                label_count,
            } => write!(
                f,
                "{} holds {image_count} images but {} holds {label_count} labels",
                images.display(),
                labels.display()
            ),
            DataError::UnsupportedDimensions { path, message } => {
                write!(f, "{}: unsupported dimensions: {message}", path.display())
            }
            DataError::Labels { path, message } => {
                write!(f, "{}: {message}", path.display())
            }
            DataError::Invalid { message } => write!(f, "invalid dataset: {message}"),
        }
    }
}

impl std::error::Error for DataError {}
