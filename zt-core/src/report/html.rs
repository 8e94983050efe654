//! The report as one self-contained HTML page: the tables of the Markdown form and four charts
//! drawn as inline SVG by plotters. No script and no external resource: the page's
//! Content-Security-Policy forbids both, so it reads the same offline, attached to a ticket.

use super::{Count, Percentiles, Report};
use plotters::prelude::*;
use std::fmt::Write as _;

const WIDTH: u32 = 880;
const HEIGHT: u32 = 300;
const BAR: RGBColor = RGBColor(0x3b, 0x6e, 0xa8);
const DENY: RGBColor = RGBColor(0xc0, 0x39, 0x2b);

pub(super) fn render(r: &Report) -> String {
    let mut s = String::with_capacity(64 * 1024);
    let pct = super::percent;
    s.push_str(concat!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        "<title>zt report</title><style>",
        "body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:920px;color:#222}",
        "table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ccc;padding:.25rem .6rem;text-align:left}",
        "th{background:#f3f3f3}td.n{text-align:right}.bad{color:#c0392b;font-weight:600}",
        "figure{margin:1rem 0}figcaption{font-size:.9rem;color:#555}",
        "</style></head><body>\n"
    ));
    let window = match (&r.window.from, &r.window.to) {
        (Some(f), Some(t)) => format!("{} to {}", esc(f), esc(t)),
        _ => "no timestamps".to_owned(),
    };
    let _ = writeln!(
        s,
        "<h1>zt report</h1><p>{} decisions, {window}; {} file(s), {} line(s).</p>",
        r.decisions,
        r.files.len(),
        r.lines
    );
    if let Some(c) = &r.chain
        && !c.verified
    {
        let _ = writeln!(
            s,
            "<p class=\"bad\">The hash chain is broken: {}</p>",
            esc(c.error.as_deref().unwrap_or("unknown"))
        );
    }
    s.push_str("<h2>Totals</h2><table id=\"totals\">");
    for (k, v) in super::totals(r) {
        let _ = write!(s, "<tr><th>{k}</th><td class=\"n\">{}</td></tr>", esc(&v));
    }
    if let Some(c) = &r.chain {
        let state = if c.verified { "verified" } else { "broken" };
        let _ = write!(
            s,
            "<tr><th>hash chain</th><td class=\"n\">{state}, {} records</td></tr>",
            c.records
        );
    }
    s.push_str("</table>\n");

    s.push_str("<h2>Over time</h2>");
    figure(
        &mut s,
        "chart-timeline",
        &format!(
            "Decisions per {} (bars) and deny rate (line, right axis)",
            r.bucket
        ),
        timeline(r),
    );

    s.push_str("<h2>Latency (µs)</h2><table id=\"latency\"><tr><th>stage</th><th>p50</th><th>p95</th><th>p99</th><th>max</th></tr>");
    let row = |s: &mut String, name: &str, p: &Percentiles| {
        let _ = write!(
            s,
            "<tr><th>{}</th><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(name),
            p.p50,
            p.p95,
            p.p99,
            p.max
        );
    };
    row(&mut s, "decision", &r.latency_us);
    for (stage, p) in &r.stages_us {
        row(&mut s, stage, p);
    }
    s.push_str("</table>\n");
    figure(
        &mut s,
        "chart-latency",
        "Decisions by latency (whole decision)",
        latency(r),
    );

    s.push_str("<h2>Reasons</h2>");
    figure(
        &mut s,
        "chart-reasons",
        "Most frequent reason codes",
        reasons(&r.reasons),
    );
    counts(&mut s, "reasons", "Reason codes", &r.reasons);
    counts(
        &mut s,
        "policy-reasons",
        "Policy reasons",
        &r.policy_reasons,
    );
    counts(
        &mut s,
        "token-failures",
        "Token failures",
        &r.token_failures,
    );

    if !r.routes.is_empty() {
        s.push_str("<h2>Routes</h2><table id=\"routes\"><tr><th>method</th><th>route</th><th>decisions</th><th>deny rate</th><th>p95 (µs)</th></tr>");
        for x in &r.routes {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                esc(&x.method),
                esc(&x.route),
                x.count,
                pct(x.deny_rate),
                x.p95_us
            );
        }
        s.push_str("</table>\n");
    }

    if let Some(lp) = &r.least_privilege {
        let _ = write!(
            s,
            "<h2>Least privilege</h2><p id=\"least-privilege-kpi\">{} of {} subjects ({}) hold a privileged entitlement they did not use (privileged: {}).</p>",
            lp.subjects_with_unused_privileged,
            lp.subjects,
            pct(lp.share),
            esc(&if lp.privileged.is_empty() {
                "none defined".to_owned()
            } else {
                lp.privileged.join(", ")
            })
        );
        figure(
            &mut s,
            "chart-least-privilege",
            "Unused entitlements per subject (privileged in red)",
            privilege(r),
        );
        s.push_str("<table id=\"least-privilege\"><tr><th>issuer</th><th>subject</th><th>held</th><th>used</th><th>unused</th><th>unused privileged</th></tr>");
        for e in &lp.entries {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"bad\">{}</td></tr>",
                esc(&e.issuer),
                esc(&e.subject),
                esc(&e.held.join(", ")),
                esc(&e.used.join(", ")),
                esc(&e.unused.join(", ")),
                esc(&e.unused_privileged.join(", "))
            );
        }
        s.push_str("</table>\n");
    }
    if !r.damaged_lines.is_empty() {
        s.push_str("<h2>Damaged lines</h2><ul>");
        for d in &r.damaged_lines {
            let _ = write!(s, "<li>{}:{}: {}</li>", esc(&d.file), d.line, esc(&d.error));
        }
        s.push_str("</ul>\n");
    }
    s.push_str("</body></html>\n");
    s
}

fn counts(s: &mut String, id: &str, title: &str, list: &[Count]) {
    if list.is_empty() {
        return;
    }
    let _ = write!(
        s,
        "<h3>{title}</h3><table id=\"{id}\"><tr><th>code</th><th>count</th></tr>"
    );
    for c in list {
        let _ = write!(
            s,
            "<tr><td>{}</td><td class=\"n\">{}</td></tr>",
            esc(&c.code),
            c.count
        );
    }
    s.push_str("</table>\n");
}

/// A chart in a `<figure>`, or a note when there is nothing to draw.
fn figure(s: &mut String, id: &str, caption: &str, svg: Option<String>) {
    match svg {
        Some(svg) => {
            let _ = writeln!(
                s,
                "<figure id=\"{id}\">{svg}<figcaption>{}</figcaption></figure>",
                esc(caption)
            );
        }
        None => {
            let _ = writeln!(s, "<p id=\"{id}\">{}: no data.</p>", esc(caption));
        }
    }
}

/// Draw on an SVG of the page's chart size; `None` when drawing fails or `draw` has nothing.
fn svg(
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, plotters::coord::Shift>) -> Option<()>,
) -> Option<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        draw(&root)?;
        root.present().ok()?;
    }
    Some(out)
}

fn timeline(r: &Report) -> Option<String> {
    if r.buckets.is_empty() {
        return None;
    }
    let n = r.buckets.len() as u32;
    let top = r
        .buckets
        .iter()
        .map(|b| b.decisions)
        .max()
        .unwrap_or(1)
        .max(1);
    let labels: Vec<String> = r
        .buckets
        .iter()
        .map(|b| {
            let t = b.start.get(..16).unwrap_or(&b.start).replace('T', " ");
            if r.bucket == "day" {
                t.get(..10).unwrap_or(&t).to_owned()
            } else {
                t
            }
        })
        .collect();
    svg(|root| {
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .right_y_label_area_size(50)
            .build_cartesian_2d((0u32..n).into_segmented(), 0u64..top + top / 10 + 1)
            .ok()?
            .set_secondary_coord(0f64..f64::from(n), 0f64..100f64);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(8)
            .x_label_formatter(&|v| segment_label(v, &labels))
            .y_desc("decisions")
            .draw()
            .ok()?;
        chart
            .configure_secondary_axes()
            .y_desc("deny rate %")
            .draw()
            .ok()?;
        let series = Histogram::vertical(&*chart)
            .style(BAR.mix(0.8).filled())
            .margin(1)
            .data(
                r.buckets
                    .iter()
                    .enumerate()
                    .map(|(i, b)| (i as u32, b.decisions)),
            );
        chart.draw_series(series).ok()?;
        chart
            .draw_secondary_series(LineSeries::new(
                r.buckets
                    .iter()
                    .enumerate()
                    .map(|(i, b)| (i as f64 + 0.5, b.deny_rate * 100.0)),
                DENY.stroke_width(2),
            ))
            .ok()?;
        Some(())
    })
}

/// The label of a category axis position (the segment's own name; none between segments).
fn segment_label(v: &SegmentValue<u32>, labels: &[String]) -> String {
    match v {
        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
            labels.get(*i as usize).cloned().unwrap_or_default()
        }
        SegmentValue::Last => String::new(),
    }
}

fn latency(r: &Report) -> Option<String> {
    let d = &r.latency_distribution;
    if d.is_empty() {
        return None;
    }
    let labels: Vec<String> = d
        .iter()
        .map(|b| match b.le_us {
            Some(le) if le >= 1000.0 => format!("≤{} ms", le / 1000.0),
            Some(le) => format!("≤{le} µs"),
            None => "more".to_owned(),
        })
        .collect();
    let top = d.iter().map(|b| b.count).max().unwrap_or(1).max(1);
    let n = d.len() as u32;
    svg(|root| {
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d((0u32..n).into_segmented(), 0u64..top + top / 10 + 1)
            .ok()?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(d.len() + 1)
            .x_label_formatter(&|v| segment_label(v, &labels))
            .y_desc("decisions")
            .draw()
            .ok()?;
        chart
            .draw_series(
                Histogram::vertical(&chart)
                    .style(BAR.filled())
                    .margin(4)
                    .data(d.iter().enumerate().map(|(i, b)| (i as u32, b.count))),
            )
            .ok()?;
        Some(())
    })
}

/// Horizontal bars, one per label, the first at the top; `hot` ones in red.
fn bars(items: &[(String, u64, bool)]) -> Option<String> {
    if items.is_empty() {
        return None;
    }
    let n = items.len() as u32;
    let top = items.iter().map(|i| i.1).max().unwrap_or(1).max(1);
    // Row k of the chart (from the bottom) holds item n-1-k.
    let labels: Vec<String> = (0..n)
        .map(|k| {
            items
                .get((n - 1 - k) as usize)
                .map(|x| x.0.chars().take(32).collect())
                .unwrap_or_default()
        })
        .collect();
    svg(|root| {
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(230)
            .build_cartesian_2d(0u64..top + top / 10 + 1, (0u32..n).into_segmented())
            .ok()?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(items.len() + 1)
            .y_label_formatter(&|v| segment_label(v, &labels))
            .draw()
            .ok()?;
        for hot in [false, true] {
            let color = if hot { DENY } else { BAR };
            chart
                .draw_series(
                    Histogram::horizontal(&chart)
                        .style(color.filled())
                        .margin(6)
                        .data(
                            items
                                .iter()
                                .enumerate()
                                .filter(|(_, x)| x.2 == hot)
                                .map(|(k, x)| (n - 1 - k as u32, x.1)),
                        ),
                )
                .ok()?;
        }
        Some(())
    })
}

fn reasons(list: &[Count]) -> Option<String> {
    let items: Vec<(String, u64, bool)> = list
        .iter()
        .take(10)
        .map(|c| (c.code.clone(), c.count, false))
        .collect();
    bars(&items)
}

fn privilege(r: &Report) -> Option<String> {
    let lp = r.least_privilege.as_ref()?;
    let items: Vec<(String, u64, bool)> = lp
        .entries
        .iter()
        .take(10)
        .map(|e| {
            (
                e.subject.clone(),
                e.unused.len() as u64,
                !e.unused_privileged.is_empty(),
            )
        })
        .collect();
    bars(&items)
}

/// Text for HTML: `& < > " '` escaped, control characters dropped.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<script>alert('x')</script>&\"\n"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
    }
}
