//! `zt report`: one zt-core call (`report_files`), printed as JSON or Markdown.

use crate::Usage;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub(crate) struct ReportArgs {
    /// Decision logs (zt's shape; plain or gzip, as the file and hash-chained sinks and
    /// logrotate write them), read in the order given.
    #[arg(long, required = true, num_args = 1..)]
    log: Vec<PathBuf>,
    /// Only records at or after this time (RFC 3339, or a date: `2026-12-01`).
    #[arg(long)]
    since: Option<String>,
    /// Only records before this time (RFC 3339, or a date).
    #[arg(long)]
    until: Option<String>,
    /// The bundle whose `entitlements` and `privileged` rules drive the least-privilege review.
    #[arg(long)]
    bundle: Option<PathBuf>,
    /// The configuration file whose `[policy]` loads `--bundle` (entrypoint, limits).
    #[arg(long)]
    config: Option<PathBuf>,
    /// `json` (default), `md`, or `html` (one self-contained page with charts).
    #[arg(long, default_value = "json", value_parser = ["json", "md", "html"])]
    format: String,
    /// Write the report here instead of standard output.
    #[arg(short = 'o', long)]
    output: Option<PathBuf>,
}

pub(crate) fn run(a: &ReportArgs) -> Result<ExitCode, Usage> {
    let time = |flag: &str, v: &Option<String>| match v {
        None => Ok(None),
        Some(t) => zt_core::parse_report_time(t).map(Some).ok_or_else(|| {
            Usage(format!(
                "--{flag} `{t}` is not an RFC 3339 time or a date (2026-12-01)"
            ))
        }),
    };
    let mut opts = zt_core::ReportOptions::new(
        time("since", &a.since)?,
        time("until", &a.until)?,
        a.bundle.clone(),
    );
    if let Some(c) = &a.config {
        opts.policy = zt_core::AuthorizerConfig::from_path(c)?.policy;
    }
    let report = zt_core::report_files(&a.log, &opts)?;
    let text = if a.format == "md" {
        report.to_markdown()
    } else if a.format == "html" {
        report.to_html()
    } else {
        let mut t = serde_json::to_string_pretty(&report)?;
        t.push('\n');
        t
    };
    match &a.output {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| Usage(format!("cannot write `{}`: {}", path.display(), e.kind())))?,
        None => print!("{text}"),
    }
    for d in &report.damaged_lines {
        eprintln!("warning: {}:{}: {}", d.file, d.line, d.error);
    }
    Ok(match &report.chain {
        Some(c) if !c.verified => {
            eprintln!(
                "error: the hash chain is broken: {}",
                c.error.as_deref().unwrap_or("unknown")
            );
            ExitCode::from(1)
        }
        _ => ExitCode::SUCCESS,
    })
}
