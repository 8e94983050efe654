//! Opening decision logs for reading: plain files and gzip-compressed ones (`.gz`, rotated
//! logs), recognised by their first bytes whatever their name.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// A buffered reader of the log at `path`, decompressing gzip (one or more members, as
/// `logrotate` and `gzip` write them).
pub fn open_log(path: &Path) -> std::io::Result<Box<dyn BufRead + Send>> {
    let mut file = BufReader::with_capacity(256 * 1024, std::fs::File::open(path)?);
    let gzip = file.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    Ok(if gzip {
        Box::new(BufReader::with_capacity(
            256 * 1024,
            flate2::bufread::MultiGzDecoder::new(file),
        ))
    } else {
        Box::new(file)
    })
}

/// The next line of `r` into `buf` (without its newline), reading at most `max` bytes of it:
/// `Ok(None)` at the end, `Ok(Some(false))` for a line longer than `max` (skipped to its end).
pub(crate) fn next_line(
    r: &mut dyn BufRead,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<bool>> {
    buf.clear();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    let n = Read::take(&mut *r, limit).read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        return Ok(Some(true));
    }
    if buf.len() > max {
        // Too long: skip the rest of the line.
        let mut sink = Vec::new();
        loop {
            sink.clear();
            let m = Read::take(&mut *r, 1 << 20).read_until(b'\n', &mut sink)?;
            if m == 0 || sink.last() == Some(&b'\n') {
                break;
            }
        }
        return Ok(Some(false));
    }
    Ok(Some(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_plain_gzip_and_too_long() {
        let dir = std::env::temp_dir().join(format!("zt-reader-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let plain = dir.join("a.log");
        std::fs::write(&plain, b"one\r\ntwo\nthree-is-long\nfour").unwrap();
        let gz = dir.join("b.log.1");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut enc, b"x\n").unwrap();
        let mut bytes = enc.finish().unwrap();
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut enc, b"y\n").unwrap();
        bytes.extend(enc.finish().unwrap());
        std::fs::write(&gz, bytes).unwrap();
        let read = |p: &Path| {
            let mut r = open_log(p).unwrap();
            let mut buf = Vec::new();
            let mut out = Vec::new();
            while let Some(ok) = next_line(&mut *r, &mut buf, 6).unwrap() {
                out.push(if ok {
                    String::from_utf8(buf.clone()).unwrap()
                } else {
                    "(long)".to_owned()
                });
            }
            out
        };
        assert_eq!(read(&plain), ["one", "two", "(long)", "four"]);
        assert_eq!(read(&gz), ["x", "y"]);
        std::fs::remove_dir_all(&dir).ok();
    }
}
