//! `logoscope generate`: the deterministic synthetic corpus.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use logoscope_synth::{SynthConfig, generate};

use crate::args::GenerateArgs;

pub(crate) fn run(a: GenerateArgs) -> anyhow::Result<ExitCode> {
    let cfg = SynthConfig::new(a.lines, a.seed);
    let stdout = |p: &Path| p.as_os_str() == "-";
    // Names of this process's stdout, as `-` is.
    let stdout_too = |p: &Path| {
        stdout(p)
            || ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"]
                .contains(&p.to_string_lossy().as_ref())
    };
    if let Some(truth) = &a.truth {
        if (stdout(&a.out) && stdout_too(truth)) || (stdout(truth) && stdout_too(&a.out)) {
            bail!("--out and --truth cannot both be stdout (`-`): give one of them a file");
        }
        if !stdout(&a.out) && !stdout(truth) && same_file(&a.out, truth) {
            bail!(
                "--out and --truth name the same file ({}): the corpus and its ground truth \
                 need one each",
                a.out.display()
            );
        }
    }
    // Both outputs are opened before either is written; files are written
    // beside their destination and renamed into place at the end, so a
    // failure (a truth folder that does not exist, a full disk) leaves what
    // was there before.
    let mut out = Output::open(&a.out)?;
    let mut truth = match &a.truth {
        Some(p) => Some(Output::open(p)?),
        None => None,
    };
    // Only now, both open, is a file written through in place emptied.
    out.begin()?;
    if let Some(t) = truth.as_mut() {
        t.begin()?;
    }
    let summary = {
        let mut out_w = BufWriter::with_capacity(1 << 16, out.writer());
        let mut sink = io::sink();
        let truth_w: &mut dyn Write = match truth.as_mut() {
            Some(t) => t.writer(),
            None => &mut sink,
        };
        let mut truth_w = BufWriter::with_capacity(1 << 16, truth_w);
        let summary = generate(&cfg, &mut out_w, &mut truth_w).context("generating the corpus")?;
        out_w.flush()?;
        truth_w.flush()?;
        summary
    };
    out.finish()?;
    if let Some(t) = truth {
        t.finish()?;
    }
    crate::stderr_line(format_args!(
        "generated {} entries ({} lines, {} bytes, {} templates), seed {}",
        summary.entries,
        summary.physical_lines,
        summary.bytes,
        summary.templates.len(),
        a.seed
    ));
    Ok(ExitCode::SUCCESS)
}

/// Whether `a` and `b` are one regular file: the same path once symbolic
/// links (dangling ones too) and their folders are resolved, or (both
/// existing) the same inode. Devices and FIFOs (`/dev/null` for both) are
/// not compared.
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let regular_or_missing = |p: &Path| std::fs::metadata(p).map_or(true, |m| m.is_file());
    if !regular_or_missing(a) || !regular_or_missing(b) {
        return false;
    }
    if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b))
        && (x.dev(), x.ino()) == (y.dev(), y.ino())
    {
        return true;
    }
    let resolved = |p: &Path| {
        let mut p = p.to_path_buf();
        for _ in 0..40 {
            if !std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) {
                break;
            }
            let target = std::fs::read_link(&p).ok()?;
            p = match p.parent() {
                Some(dir) if target.is_relative() => dir.join(target),
                _ => target,
            };
        }
        let parent = match p.parent() {
            Some(q) if !q.as_os_str().is_empty() => q,
            _ => Path::new("."),
        };
        Some(std::fs::canonicalize(parent).ok()?.join(p.file_name()?))
    };
    matches!((resolved(a), resolved(b)), (Some(x), Some(y)) if x == y)
}

/// Where one output goes.
enum Output {
    Stdout(io::Stdout),
    /// A symbolic link (`/dev/stdout` too) or something that is not a
    /// regular file (a FIFO, `/dev/null`): written through in place.
    Direct(File),
    /// A regular file: written to `tmp` beside `dest`, renamed at the end.
    Staged {
        file: File,
        tmp: PathBuf,
        dest: PathBuf,
        done: bool,
    },
}

impl Output {
    fn open(path: &Path) -> anyhow::Result<Self> {
        if path.as_os_str() == "-" {
            return Ok(Output::Stdout(io::stdout()));
        }
        let cannot = || format!("cannot create {}", path.display());
        if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
            bail!("cannot create {}: it is a directory", path.display());
        }
        if std::fs::symlink_metadata(path).is_ok_and(|m| !m.is_file()) {
            // Not emptied yet: see `begin`.
            let file = File::options()
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .with_context(cannot)?;
            return Ok(Output::Direct(file));
        }
        let name = path
            .file_name()
            .with_context(|| format!("cannot create {}: not a file name", path.display()))?;
        // A new file of a name not taken (whatever is at a taken one, a
        // symbolic link included, is left alone).
        let mut attempt = 0;
        let (file, tmp) = loop {
            let mut tmp_name = std::ffi::OsString::from(".");
            tmp_name.push(name);
            tmp_name.push(format!(".tmp-{}-{attempt}", std::process::id()));
            let tmp = path.with_file_name(tmp_name);
            match File::options().write(true).create_new(true).open(&tmp) {
                Ok(file) => break (file, tmp),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => {
                    attempt += 1;
                }
                Err(e) => return Err(anyhow::Error::new(e).context(cannot())),
            }
        };
        Ok(Output::Staged {
            file,
            tmp,
            dest: path.to_owned(),
            done: false,
        })
    }

    /// Empties a regular file written through in place (a symbolic link's
    /// target), once every output is open.
    fn begin(&mut self) -> anyhow::Result<()> {
        if let Output::Direct(file) = self
            && file.metadata().is_ok_and(|m| m.is_file())
        {
            file.set_len(0).context("cannot empty the output")?;
        }
        Ok(())
    }

    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Output::Stdout(s) => s,
            Output::Direct(f) | Output::Staged { file: f, .. } => f,
        }
    }

    /// Puts a staged file in place.
    fn finish(mut self) -> anyhow::Result<()> {
        if let Output::Staged {
            tmp, dest, done, ..
        } = &mut self
        {
            std::fs::rename(&*tmp, &*dest)
                .with_context(|| format!("cannot create {}", dest.display()))?;
            *done = true;
        }
        Ok(())
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if let Output::Staged {
            tmp, done: false, ..
        } = self
        {
            let _ = std::fs::remove_file(tmp);
        }
    }
}
