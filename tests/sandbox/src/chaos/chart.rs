//! One SVG chart per scenario, drawn with plotters: write latency over time with the scenario's
//! marks (kills, freezes, leadership moves, recovery), and one health lane per peer. And one
//! HTML page with the table and every chart.

use std::path::Path;

use plotters::prelude::*;

use super::report::{table, Report, ScenarioReport};
use super::traffic::Ack;
use super::HealthTimeline;
use crate::error::{Result, SandboxError};

fn err(e: impl std::fmt::Display) -> SandboxError {
    SandboxError::Setup(format!("chart: {e}"))
}

/// Draws `r`'s chart into `path`.
pub fn svg(
    path: &Path,
    r: &ScenarioReport,
    acks: &[Ack],
    marks: &[(f64, String)],
    health: &HealthTimeline,
) -> Result<()> {
    let root = SVGBackend::new(path, (1100, 640)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let (top, bottom) = root.split_vertically(400);
    let end_ms = acks
        .iter()
        .map(|a| a.end_ms)
        .chain(health.iter().map(|(t, _)| *t))
        .chain(marks.iter().map(|(t, _)| *t))
        .fold(1000.0, f64::max);
    let x_max = end_ms / 1000.0 * 1.02;
    let y_max = acks.iter().map(|a| a.end_ms - a.start_ms).fold(10.0, f64::max) * 1.1;

    let mut chart = ChartBuilder::on(&top)
        .caption(format!("{}: write latency", r.name), ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..x_max, 0f64..y_max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("seconds since the load started")
        .y_desc("acknowledged write latency (ms)")
        .draw()
        .map_err(err)?;
    chart
        .draw_series(
            acks.iter()
                .map(|a| Circle::new((a.end_ms / 1000.0, a.end_ms - a.start_ms), 2, BLUE.filled())),
        )
        .map_err(err)?
        .label("acknowledged write")
        .legend(|(x, y)| Circle::new((x + 8, y), 3, BLUE.filled()));
    let colours = [RED, MAGENTA, RGBColor(230, 120, 0), GREEN, BLACK];
    for (i, (t, label)) in marks.iter().enumerate() {
        let c = colours[i % colours.len()];
        chart
            .draw_series(LineSeries::new(
                vec![(t / 1000.0, 0.0), (t / 1000.0, y_max)],
                c.stroke_width(2),
            ))
            .map_err(err)?
            .label(format!("{:.1} s: {label}", t / 1000.0))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(err)?;

    let peers = health.first().map(|(_, h)| h.len()).unwrap_or(0).max(1);
    let mut lanes = ChartBuilder::on(&bottom)
        .caption("health per peer (green: healthy)", ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..x_max, 0f64..peers as f64)
        .map_err(err)?;
    lanes
        .configure_mesh()
        .disable_mesh()
        .y_labels(peers)
        .y_label_formatter(&|y| format!("peer-{}", *y as u32))
        .draw()
        .map_err(err)?;
    for w in health.windows(2) {
        let (t0, h) = (&w[0].0, &w[0].1);
        let t1 = w[1].0;
        lanes
            .draw_series(h.iter().enumerate().map(|(p, ok)| {
                let c = if *ok { GREEN.mix(0.7) } else { RED.mix(0.7) };
                Rectangle::new(
                    [(t0 / 1000.0, p as f64 + 0.15), (t1 / 1000.0, p as f64 + 0.85)],
                    c.filled(),
                )
            }))
            .map_err(err)?;
    }
    root.present().map_err(err)?;
    Ok(())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// `index.html`: the table and every chart.
pub fn html(dir: &Path, report: &Report) -> Result<()> {
    let mut page = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>steadfast chaos report ({})</title>\
         <style>body{{font-family:sans-serif;margin:2em}}pre{{background:#f4f4f4;padding:1em}}</style></head><body>\n\
         <h1>steadfast chaos report: {} profile</h1>\n<pre>{}</pre>\n",
        escape(&report.profile),
        escape(&report.profile),
        escape(&table(report))
    );
    for s in &report.scenarios {
        page.push_str(&format!("<h2>{}</h2>\n", escape(&s.name)));
        if let Some(c) = &s.chart {
            page.push_str(&format!("<img src=\"{}\" alt=\"{}\">\n", escape(c), escape(&s.name)));
        }
    }
    page.push_str("</body></html>\n");
    std::fs::write(dir.join("index.html"), page).map_err(SandboxError::io("write index.html"))
}
