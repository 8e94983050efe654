//! The report as Markdown tables.

use super::{Count, Percentiles, Report};
use std::fmt::Write as _;

pub(super) fn render(r: &Report) -> String {
    let mut s = String::new();
    let pct = super::percent;
    let _ = writeln!(s, "# zt report\n");
    let window = match (&r.window.from, &r.window.to) {
        (Some(f), Some(t)) => format!("{f} to {t}"),
        _ => "no timestamps".to_owned(),
    };
    let _ = writeln!(
        s,
        "{} decisions, {window}; {} file(s), {} line(s).\n",
        r.decisions,
        r.files.len(),
        r.lines
    );
    let _ = writeln!(s, "## Totals\n\n| | |\n| --- | --- |");
    for (k, v) in super::totals(r) {
        let _ = writeln!(s, "| {k} | {v} |");
    }
    if let Some(c) = &r.chain {
        let state = if c.verified {
            "verified".to_owned()
        } else {
            format!(
                "**broken**: {}",
                cell(c.error.as_deref().unwrap_or("unknown"))
            )
        };
        let _ = writeln!(s, "| hash chain | {state}, {} records |", c.records);
    }
    let _ = writeln!(
        s,
        "\n## Latency (µs)\n\n| stage | p50 | p95 | p99 | max |\n| --- | --- | --- | --- | --- |"
    );
    let row = |s: &mut String, name: &str, p: &Percentiles| {
        let _ = writeln!(
            s,
            "| {name} | {} | {} | {} | {} |",
            p.p50, p.p95, p.p99, p.max
        );
    };
    row(&mut s, "decision", &r.latency_us);
    for (stage, p) in &r.stages_us {
        row(&mut s, stage, p);
    }
    counts(&mut s, "Reasons", &r.reasons);
    counts(&mut s, "Policy reasons", &r.policy_reasons);
    counts(&mut s, "Token failures", &r.token_failures);
    if !r.routes.is_empty() {
        let _ = writeln!(
            s,
            "\n## Routes\n\n| method | route | decisions | deny rate | p95 (µs) |\n| --- | --- | --- | --- | --- |"
        );
        for x in &r.routes {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                cell(&x.method),
                cell(&x.route),
                x.count,
                pct(x.deny_rate),
                x.p95_us
            );
        }
    }
    if !r.buckets.is_empty() {
        let _ = writeln!(
            s,
            "\n## Per {}\n\n| from | decisions | denies | deny rate |\n| --- | --- | --- | --- |",
            r.bucket
        );
        for b in &r.buckets {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                b.start,
                b.decisions,
                b.deny,
                pct(b.deny_rate)
            );
        }
    }
    if let Some(lp) = &r.least_privilege {
        let _ = writeln!(
            s,
            "\n## Least privilege\n\n{} of {} subjects ({}) hold a privileged entitlement they did not use (privileged: {}).\n",
            lp.subjects_with_unused_privileged,
            lp.subjects,
            pct(lp.share),
            if lp.privileged.is_empty() {
                "none defined".to_owned()
            } else {
                cell(&lp.privileged.join(", "))
            }
        );
        if !lp.entries.is_empty() {
            let _ = writeln!(
                s,
                "| issuer | subject | held | used | unused | unused privileged |\n| --- | --- | --- | --- | --- | --- |"
            );
            for e in &lp.entries {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} |",
                    cell(&e.issuer),
                    cell(&e.subject),
                    cell(&e.held.join(", ")),
                    cell(&e.used.join(", ")),
                    cell(&e.unused.join(", ")),
                    cell(&e.unused_privileged.join(", "))
                );
            }
        }
    }
    if !r.damaged_lines.is_empty() {
        let _ = writeln!(s, "\n## Damaged lines\n");
        for d in &r.damaged_lines {
            let _ = writeln!(s, "- {}:{}: {}", cell(&d.file), d.line, cell(&d.error));
        }
    }
    s
}

fn counts(s: &mut String, title: &str, list: &[Count]) {
    if list.is_empty() {
        return;
    }
    let _ = writeln!(s, "\n## {title}\n\n| code | count |\n| --- | --- |");
    for c in list {
        let _ = writeln!(s, "| {} | {} |", cell(&c.code), c.count);
    }
}

/// Text safe in a table cell of any renderer: HTML's `& < >` as entities, Markdown's `\ | [ ]
/// * _ `` ` ``` backslash-escaped, line breaks and other control characters dropped.
fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '|' | '[' | ']' | '*' | '_' | '`' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn cells_escape_markdown_and_html() {
        assert_eq!(cell("a|b"), "a\\|b");
        assert_eq!(cell("a\\|b"), "a\\\\\\|b");
        assert_eq!(cell("<img onerror=x>"), "&lt;img onerror=x&gt;");
        assert_eq!(cell("[x](javascript:y)"), "\\[x\\](javascript:y)");
        assert_eq!(cell("a\nb"), "ab");
    }
}
