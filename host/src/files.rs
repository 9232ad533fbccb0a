//! Reading the files a user names (cluster, configuration, kubeconfig,
//! plugins) with a bound on what they may cost: a device such as
//! `/dev/zero`, a FIFO nobody writes to, or a file larger than anything real
//! is refused with an error naming the limit, never read into all of memory
//! or waited on forever.
//!
//! Symlinks are followed (a ConfigMap volume's files are symlinks); the
//! file they lead to must be of an accepted [`Kind`]. The kind is checked
//! before the file is opened and again on the open handle, and the bytes are
//! read through [`Read::take`], so a file that grows or is swapped meanwhile
//! still cannot pass the limit.
//!
//! ```
//! use kws_host::files::{self, Kind};
//! let error = files::read("/dev/zero".as_ref(), Kind::RegularOrPipe, 1 << 20, "a cluster file")
//!     .unwrap_err();
//! assert_eq!(error.to_string(), "not a regular file (a character device)");
//! ```

use std::fs::{File, FileType, OpenOptions};
use std::io::{self, Read};
use std::path::Path;

/// The largest cluster file (`--cluster`) read, in bytes: 256 MiB, several
/// times `kubectl get -o yaml` of 5000 nodes and 50 000 pods.
pub const MAX_CLUSTER_FILE_BYTES: u64 = 256 << 20;
/// The largest configuration or kubeconfig file read, in bytes: 16 MiB.
pub const MAX_CONFIG_FILE_BYTES: u64 = 16 << 20;

/// Which files a reader accepts, besides symlinks to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only a regular file (plugin components). It is opened without
    /// blocking, so a FIFO swapped in after the check is refused too.
    Regular,
    /// A regular file or a pipe: `--cluster <(kubectl get nodes,pods -o
    /// yaml)` or `/dev/stdin` read as far as the limit. A FIFO blocks until
    /// someone writes to it, as with `cat`.
    RegularOrPipe,
}

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read: {0}")]
    Io(#[from] io::Error),
    /// A directory, a device, a socket (or, for [`Kind::Regular`], a FIFO).
    #[error("not a regular file ({0})")]
    NotRegular(&'static str),
    #[error(
        "{what} may be at most {}; this one is {}",
        mebibytes(*limit),
        size.map_or_else(|| "larger".to_string(), |s| format!("{s} bytes"))
    )]
    TooLarge {
        what: &'static str,
        limit: u64,
        /// When the file system says so before reading.
        size: Option<u64>,
    },
}

/// `64 MiB`, or the bytes when not a whole number of MiB.
pub fn mebibytes(bytes: u64) -> String {
    if bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// An open file that yields at most one byte more than its limit.
pub struct Bounded {
    reader: io::Take<File>,
    what: &'static str,
    limit: u64,
    /// The size the file system gave, for regular files.
    size: Option<u64>,
}

/// Opens `path` for reading at most `limit` bytes; `what` names the file in
/// the error (`a plugin file`).
pub fn open(path: &Path, kind: Kind, limit: u64, what: &'static str) -> Result<Bounded, ReadError> {
    // `metadata` follows symlinks.
    let size = check(&std::fs::metadata(path)?, kind, limit, what)?;
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    if kind == Kind::Regular {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path)?;
    check(&file.metadata()?, kind, limit, what)?;
    Ok(Bounded {
        reader: file.take(limit.saturating_add(1)),
        what,
        limit,
        size,
    })
}

/// Refuses a file of the wrong kind or known to be too large; its size when
/// it is a regular file.
fn check(
    meta: &std::fs::Metadata,
    kind: Kind,
    limit: u64,
    what: &'static str,
) -> Result<Option<u64>, ReadError> {
    let file_type = meta.file_type();
    if file_type.is_file() {
        if meta.len() > limit {
            return Err(ReadError::TooLarge {
                what,
                limit,
                size: Some(meta.len()),
            });
        }
        return Ok(Some(meta.len()));
    }
    match (kind, describe(file_type)) {
        (Kind::RegularOrPipe, "a FIFO") => Ok(None),
        (_, other) => Err(ReadError::NotRegular(other)),
    }
}

fn describe(file_type: FileType) -> &'static str {
    if file_type.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO";
        }
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    "not a file"
}

impl Bounded {
    /// Reads up to `n` bytes, fewer only at the end of the file: a header
    /// to check before the rest is worth reading.
    pub fn read_prefix(&mut self, n: usize) -> Result<Vec<u8>, ReadError> {
        let mut prefix = Vec::with_capacity(n);
        (&mut self.reader).take(n as u64).read_to_end(&mut prefix)?;
        Ok(prefix)
    }

    /// Reads the rest of the file after `start` (what was read so far);
    /// refused once the whole passes the limit.
    pub fn read_rest(mut self, mut start: Vec<u8>) -> Result<Vec<u8>, ReadError> {
        if let Some(size) = self.size {
            start.reserve(
                usize::try_from(size)
                    .unwrap_or(0)
                    .saturating_sub(start.len()),
            );
        }
        self.reader.read_to_end(&mut start)?;
        if start.len() as u64 > self.limit {
            return Err(ReadError::TooLarge {
                what: self.what,
                limit: self.limit,
                size: None,
            });
        }
        Ok(start)
    }
}

/// The whole content of `path`, at most `limit` bytes.
pub fn read(path: &Path, kind: Kind, limit: u64, what: &'static str) -> Result<Vec<u8>, ReadError> {
    open(path, kind, limit, what)?.read_rest(Vec::new())
}

/// [`read`] as UTF-8 text.
pub fn read_to_string(
    path: &Path,
    kind: Kind,
    limit: u64,
    what: &'static str,
) -> Result<String, ReadError> {
    String::from_utf8(read(path, kind, limit, what)?)
        .map_err(|e| ReadError::Io(io::Error::new(io::ErrorKind::InvalidData, e.utf8_error())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kws-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        let _ = std::fs::remove_file(&path);
        path
    }

    #[test]
    fn a_regular_file_and_a_symlink_to_one_are_read() {
        let file = scratch("plain.yaml");
        std::fs::write(&file, "kind: Node\n").unwrap();
        let link = scratch("link.yaml");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        for path in [&file, &link] {
            assert_eq!(
                read_to_string(path, Kind::Regular, 64, "a file").unwrap(),
                "kind: Node\n"
            );
        }
    }

    #[test]
    fn devices_directories_and_fifos_are_refused_without_blocking() {
        let zero = scratch("zero.wasm");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        let fifo = scratch("fifo.wasm");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let cases = [
            (zero.as_path(), Kind::RegularOrPipe, "a character device"),
            (Path::new("/"), Kind::RegularOrPipe, "a directory"),
            (fifo.as_path(), Kind::Regular, "a FIFO"),
        ];
        for (path, kind, expected) in cases {
            let error = read(path, kind, 1 << 20, "a file").unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("not a regular file ({expected})"),
                "{}",
                path.display()
            );
        }
    }

    #[test]
    fn a_file_past_the_limit_is_refused_before_and_while_reading() {
        let big = scratch("big.wasm");
        std::fs::write(&big, vec![0u8; 2048]).unwrap();
        let error = read(&big, Kind::Regular, 1024, "a plugin file").unwrap_err();
        assert_eq!(
            error.to_string(),
            "a plugin file may be at most 1024 bytes; this one is 2048 bytes"
        );
        // A pipe's size is only known by reading it: never more than the
        // limit and a byte.
        let mut writer = std::process::Command::new("sh")
            .args(["-c", "yes | head -c 5000000"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = writer.stdout.take().unwrap();
        let mut bounded = Bounded {
            reader: File::from(std::os::fd::OwnedFd::from(stdout)).take(1 << 20),
            what: "a cluster file",
            limit: (1 << 20) - 1,
            size: None,
        };
        let prefix = bounded.read_prefix(4).unwrap();
        assert_eq!(prefix, b"y\ny\n");
        let error = bounded.read_rest(prefix).map(|b| b.len()).unwrap_err();
        assert!(
            error.to_string().ends_with("; this one is larger"),
            "{error}"
        );
        let _ = writer.kill();
        let _ = writer.wait();
    }

    #[test]
    fn limits_read_in_mebibytes() {
        assert_eq!(mebibytes(64 << 20), "64 MiB");
        assert_eq!(mebibytes(1000), "1000 bytes");
    }
}
