//! `corekv-chart INPUT.json OUTPUT.svg`: draws the chart of `bench/compare.sh`
//! (`docs/benchmarks.svg`): throughput and p99 latency by configuration,
//! corekv next to Redis, as horizontal grouped bars in two stacked panels.
//!
//! The input is what the script's report step writes:
//!
//! ```json
//! {"title": "corekv vs Redis", "subtitle": "2026-01-01 12:00 UTC, commit abc1234",
//!  "rows": [{"section": "1", "label": "redis-benchmark -P 1 SET",
//!            "corekv_ops": 123456.0, "redis_ops": 100000.0,
//!            "corekv_p99_us": 410.0, "redis_p99_us": 450.0}]}
//! ```
//!
//! A bare list of rows is accepted too. Every number may be `null` or absent
//! (a row measured on corekv only has no Redis bar); `section` is optional and
//! only draws a divider where it changes. Text goes out as SVG `<text>`
//! elements (plotters without its `ttf` feature), so neither building nor
//! rendering needs a font library.

use anyhow::{bail, Context, Result};
use clap::Parser;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde_json::Value;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "corekv-chart",
    about = "Draws bench/compare.sh's SVG chart (throughput and p99, corekv vs Redis)"
)]
struct Args {
    /// JSON input: {"title", "subtitle", "rows": [{section, label, corekv_ops,
    /// redis_ops, corekv_p99_us, redis_p99_us}]}, or just the list of rows
    input: PathBuf,
    /// SVG file to write
    output: PathBuf,
}

#[derive(Debug, Clone, PartialEq)]
struct Row {
    section: String,
    label: String,
    corekv_ops: Option<f64>,
    redis_ops: Option<f64>,
    corekv_p99_us: Option<f64>,
    redis_p99_us: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
struct Input {
    title: String,
    subtitle: Option<String>,
    rows: Vec<Row>,
}

/// A number that may be null or absent; anything else that is not a finite,
/// non-negative number is an error.
fn opt_num(obj: &Value, key: &str, row: usize) -> Result<Option<f64>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_f64() {
            Some(x) if x.is_finite() && x >= 0.0 => Ok(Some(x)),
            _ => bail!("row {row}: {key} must be a non-negative number or null, not {v}"),
        },
    }
}

fn opt_str(obj: &Value, key: &str) -> Result<Option<String>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        // A section may be written as a number.
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(v) => bail!("{key} must be a string, not {v}"),
    }
}

fn parse_input(text: &str) -> Result<Input> {
    let doc: Value = serde_json::from_str(text).context("input is not JSON")?;
    let (title, subtitle, rows) = match &doc {
        Value::Array(rows) => ("corekv vs Redis".to_string(), None, rows),
        Value::Object(_) => (
            opt_str(&doc, "title")?.unwrap_or_else(|| "corekv vs Redis".to_string()),
            opt_str(&doc, "subtitle")?,
            match doc.get("rows") {
                Some(Value::Array(rows)) => rows,
                _ => bail!("input has no \"rows\" list"),
            },
        ),
        _ => bail!("input must be an object with \"rows\", or a list of rows"),
    };
    if rows.is_empty() {
        bail!("no rows to draw");
    }
    let rows = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            if !r.is_object() {
                bail!("row {i} is not an object");
            }
            let label = match opt_str(r, "label").with_context(|| format!("row {i}"))? {
                Some(l) if !l.is_empty() => l,
                _ => bail!("row {i} has no label"),
            };
            Ok(Row {
                section: opt_str(r, "section")
                    .with_context(|| format!("row {i}"))?
                    .unwrap_or_default(),
                label,
                corekv_ops: opt_num(r, "corekv_ops", i)?,
                redis_ops: opt_num(r, "redis_ops", i)?,
                corekv_p99_us: opt_num(r, "corekv_p99_us", i)?,
                redis_p99_us: opt_num(r, "redis_p99_us", i)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Input {
        title,
        subtitle,
        rows,
    })
}

/// The smallest "round" number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 times a
/// power of ten) that is at least `x`; 1 for nothing positive.
fn nice_ceiling(x: f64) -> f64 {
    if !x.is_finite() || x <= 0.0 {
        return 1.0;
    }
    let pow = 10f64.powf(x.log10().floor());
    for m in [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0] {
        // Tolerate rounding in pow (e.g. 10^-1 * 3).
        if m * pow >= x * (1.0 - 1e-12) {
            return m * pow;
        }
    }
    10.0 * pow
}

/// The x axis's upper end: room to the right of the longest bar for its
/// value label.
fn axis_max(values: impl IntoIterator<Item = Option<f64>>) -> f64 {
    let max = values.into_iter().flatten().fold(0.0, f64::max);
    nice_ceiling(max * 1.25)
}

/// 3 significant digits with a k/M suffix: 845k, 1.23M, 98.6k, 512.
fn si(v: f64) -> String {
    let (scaled, suffix) = if v.abs() >= 999_500.0 {
        (v / 1e6, "M")
    } else if v.abs() >= 999.5 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let digits = if scaled.abs() >= 99.95 {
        0
    } else if scaled.abs() >= 9.995 {
        1
    } else {
        2
    };
    let mut s = format!("{scaled:.digits$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{s}{suffix}")
}

/// Microseconds: one decimal below 10 (but a bare 0), else whole with
/// thousands separators.
fn micros(v: f64) -> String {
    if v == 0.0 {
        return "0".to_string();
    }
    if v < 9.95 {
        return format!("{v:.1}");
    }
    let digits = format!("{:.0}", v);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Metric {
    Throughput,
    P99,
}

impl Metric {
    /// (corekv, Redis)
    fn values(self, r: &Row) -> (Option<f64>, Option<f64>) {
        match self {
            Metric::Throughput => (r.corekv_ops, r.redis_ops),
            Metric::P99 => (r.corekv_p99_us, r.redis_p99_us),
        }
    }

    fn format(self, v: f64) -> String {
        match self {
            Metric::Throughput => si(v),
            Metric::P99 => micros(v),
        }
    }
}

/// The value label of corekv's bar: the value and, when Redis has one too,
/// the corekv/Redis ratio.
fn bar_label(metric: Metric, value: f64, other: Option<f64>) -> String {
    match other {
        Some(o) if o > 0.0 => format!("{} ({:.2}× Redis)", metric.format(value), value / o),
        _ => metric.format(value),
    }
}

const WIDTH: u32 = 1100;
const ROW_PX: u32 = 34;
const HEADER_PX: u32 = 96;
const PANEL_EXTRA_PX: u32 = 96;
const COREKV: RGBColor = RGBColor(31, 119, 180);
const REDIS: RGBColor = RGBColor(214, 39, 40);
const GREY: RGBColor = RGBColor(90, 90, 90);
const FONT: &str = "sans-serif";

/// Font sizes: plotters' SVG backend writes font-size = size / 1.24.
fn font_px(px: f64) -> f64 {
    px * 1.24
}

fn panel_px(rows: usize) -> u32 {
    rows as u32 * ROW_PX + PANEL_EXTRA_PX
}

/// About 6.6 px per character at 12 px, plus padding.
const CHAR_PX: f64 = 6.6;
const MAX_LABEL_CHARS: usize = 66;

/// Width of the label column: the longest label, within limits.
fn label_area_px(rows: &[Row]) -> u32 {
    let longest = rows
        .iter()
        .map(|r| r.label.chars().count().min(MAX_LABEL_CHARS))
        .max()
        .unwrap_or(0);
    ((longest as f64 * CHAR_PX) as u32 + 24).max(140)
}

/// A label cut to MAX_LABEL_CHARS (ending in "…") so that it cannot run off
/// the left edge.
fn fit_label(label: &str) -> String {
    if label.chars().count() <= MAX_LABEL_CHARS {
        return label.to_string();
    }
    let mut s: String = label.chars().take(MAX_LABEL_CHARS - 1).collect();
    s.push('…');
    s
}

fn render_svg(input: &Input) -> Result<String> {
    let (w, h) = (WIDTH, HEADER_PX + 2 * panel_px(input.rows.len()));
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE)?;
        header(&root, input)?;
        let (_, body) = root.split_vertically(HEADER_PX);
        let (top, bottom) = body.split_vertically(panel_px(input.rows.len()));
        panel(
            &root,
            &top,
            input,
            Metric::Throughput,
            "(a) Throughput (higher is better)",
            "operations per second",
        )?;
        panel(
            &root,
            &bottom,
            input,
            Metric::P99,
            "(b) p99 latency (lower is better)",
            "p99 latency, µs",
        )?;
        root.present()?;
    }
    Ok(buf)
}

fn header<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, input: &Input) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let center = |size: f64| {
        TextStyle::from((FONT, font_px(size)).into_font()).pos(Pos::new(HPos::Center, VPos::Top))
    };
    let mid = (WIDTH / 2) as i32;
    root.draw(&Text::new(
        input.title.clone(),
        (mid, 12),
        TextStyle::from((FONT, font_px(20.0)).into_font().style(FontStyle::Bold))
            .pos(Pos::new(HPos::Center, VPos::Top)),
    ))?;
    if let Some(sub) = &input.subtitle {
        root.draw(&Text::new(
            sub.clone(),
            (mid, 42),
            center(13.0).color(&GREY),
        ))?;
    }
    // The legend, centred under the subtitle.
    let y = 74;
    let left = |x: i32| {
        (
            x,
            TextStyle::from((FONT, font_px(13.0)).into_font())
                .pos(Pos::new(HPos::Left, VPos::Center)),
        )
    };
    let x0 = mid - 210;
    for (i, (name, color)) in [("corekv", COREKV), ("Redis", REDIS)].iter().enumerate() {
        let x = x0 + i as i32 * 110;
        root.draw(&Rectangle::new(
            [(x, y - 7), (x + 14, y + 7)],
            color.filled(),
        ))?;
        let (tx, style) = left(x + 20);
        root.draw(&Text::new(name.to_string(), (tx, y), style))?;
    }
    let (tx, style) = left(x0 + 220);
    root.draw(&Text::new(
        "one bar: measured on corekv only".to_string(),
        (tx, y),
        style.color(&GREY),
    ))?;
    Ok(())
}

fn panel<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    area: &DrawingArea<DB, Shift>,
    input: &Input,
    metric: Metric,
    caption: &str,
    x_desc: &str,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let rows = &input.rows;
    let n = rows.len();
    let xmax = axis_max(rows.iter().flat_map(|r| {
        let (a, b) = metric.values(r);
        [a, b]
    }));
    let label_px = label_area_px(rows);
    let fmt_tick = move |v: &f64| metric.format(*v);
    let mut chart = ChartBuilder::on(area)
        .caption(
            caption,
            (FONT, font_px(15.0)).into_font().style(FontStyle::Bold),
        )
        .margin_top(6)
        .margin_bottom(6)
        .margin_left(10)
        .margin_right(30)
        .x_label_area_size(44)
        .y_label_area_size(label_px)
        .build_cartesian_2d(0f64..xmax, 0f64..n as f64)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_labels(8)
        .x_max_light_lines(1)
        .x_label_formatter(&fmt_tick)
        .x_desc(x_desc)
        .label_style((FONT, font_px(12.0)))
        .axis_desc_style((FONT, font_px(13.0)))
        .bold_line_style(BLACK.mix(0.12))
        .light_line_style(BLACK.mix(0.04))
        .draw()?;

    let label_style =
        TextStyle::from((FONT, font_px(12.0)).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
    let value_style =
        TextStyle::from((FONT, font_px(11.0)).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    let (plot_x, _) = chart.plotting_area().get_pixel_range();
    for (i, r) in rows.iter().enumerate() {
        // Row i from the top: its band is [n-i-1, n-i].
        let mid = (n - i) as f64 - 0.5;
        let (px, py) = chart.backend_coord(&(0.0, mid));
        root.draw(&Text::new(
            fit_label(&r.label),
            (px - 8, py),
            label_style.clone(),
        ))?;
        if i > 0 && rows[i - 1].section != r.section {
            let (_, ly) = chart.backend_coord(&(0.0, (n - i) as f64));
            root.draw(&PathElement::new(
                vec![(area.get_base_pixel().0 + 6, ly), (plot_x.end, ly)],
                BLACK.mix(0.35),
            ))?;
        }
        let (ck, rd) = metric.values(r);
        let bars: Vec<(f64, RGBColor, f64, f64)> = match (ck, rd) {
            (Some(c), Some(d)) => vec![
                (c, COREKV, mid + 0.03, mid + 0.37),
                (d, REDIS, mid - 0.37, mid - 0.03),
            ],
            (Some(c), None) => vec![(c, COREKV, mid - 0.18, mid + 0.18)],
            (None, Some(d)) => vec![(d, REDIS, mid - 0.18, mid + 0.18)],
            (None, None) => vec![],
        };
        for &(v, color, y0, y1) in &bars {
            chart.draw_series(std::iter::once(Rectangle::new(
                [(0.0, y0), (v, y1)],
                color.filled(),
            )))?;
            let text = if color == COREKV {
                bar_label(metric, v, rd)
            } else {
                metric.format(v)
            };
            let (vx, vy) = chart.backend_coord(&(v, (y0 + y1) / 2.0));
            root.draw(&Text::new(
                text,
                ((vx + 4).min(plot_x.end), vy),
                value_style.clone(),
            ))?;
        }
    }
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    let text = std::fs::read_to_string(&args.input)
        .with_context(|| format!("reading {}", args.input.display()))?;
    let input = parse_input(&text).with_context(|| format!("in {}", args.input.display()))?;
    let svg = render_svg(&input)?;
    std::fs::write(&args.output, svg)
        .with_context(|| format!("writing {}", args.output.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{"title": "corekv vs Redis", "subtitle": "today, commit abc",
        "rows": [
          {"section": "1", "label": "redis-benchmark -P 1 SET", "corekv_ops": 150000,
           "redis_ops": 100000, "corekv_p99_us": 400.6, "redis_p99_us": 800},
          {"section": 3, "label": "text <smart> & co", "corekv_ops": 1234567.0,
           "redis_ops": null, "corekv_p99_us": 12}
        ]}"#;

    #[test]
    fn parses_rows_with_nulls_and_missing_numbers() {
        let input = parse_input(SAMPLE).unwrap();
        assert_eq!(input.title, "corekv vs Redis");
        assert_eq!(input.subtitle.as_deref(), Some("today, commit abc"));
        assert_eq!(input.rows.len(), 2);
        assert_eq!(input.rows[0].redis_ops, Some(100000.0));
        assert_eq!(input.rows[1].section, "3");
        assert_eq!(input.rows[1].redis_ops, None);
        assert_eq!(input.rows[1].redis_p99_us, None);
        // A bare list of rows works too.
        let bare = parse_input(r#"[{"label": "x", "corekv_ops": 1}]"#).unwrap();
        assert_eq!(bare.rows[0].corekv_ops, Some(1.0));
        assert_eq!(bare.rows[0].section, "");
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            "not json",
            "{}",
            r#"{"rows": []}"#,
            r#"[{"corekv_ops": 1}]"#,
            r#"[{"label": "", "corekv_ops": 1}]"#,
            r#"[{"label": "x", "corekv_ops": "fast"}]"#,
            r#"[{"label": "x", "corekv_ops": -1}]"#,
            r#"[3]"#,
        ] {
            assert!(parse_input(bad).is_err(), "accepted {bad}");
        }
    }

    #[test]
    fn nice_ceiling_rounds_up_to_round_numbers() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(f64::NAN), 1.0);
        assert_eq!(nice_ceiling(1.0), 1.0);
        assert_eq!(nice_ceiling(1.01), 1.2);
        assert_eq!(nice_ceiling(870_000.0), 1_000_000.0);
        assert_eq!(nice_ceiling(1_050_000.0), 1_200_000.0);
        assert_eq!(nice_ceiling(2_600.0), 3_000.0);
        assert!((nice_ceiling(0.29) - 0.3).abs() < 1e-12);
        // Headroom for the value labels: the longest bar ends before 80%.
        let m = axis_max([Some(1_000_000.0), None, Some(10.0)]);
        assert!((1_250_000.0..=1_500_000.0).contains(&m), "{m}");
        assert_eq!(axis_max([None, None]), 1.0);
    }

    #[test]
    fn formats_values() {
        assert_eq!(si(0.0), "0");
        assert_eq!(si(512.0), "512");
        assert_eq!(si(9_870.0), "9.87k");
        assert_eq!(si(98_640.0), "98.6k");
        assert_eq!(si(845_123.0), "845k");
        assert_eq!(si(999_999.0), "1M");
        assert_eq!(si(1_234_567.0), "1.23M");
        assert_eq!(si(200_000.0), "200k");
        assert_eq!(si(1_200_000.0), "1.2M");
        assert_eq!(micros(0.0), "0");
        assert_eq!(micros(0.44), "0.4");
        assert_eq!(micros(312.4), "312");
        assert_eq!(micros(1_234_567.0), "1,234,567");
        assert_eq!(
            bar_label(Metric::Throughput, 150_000.0, Some(100_000.0)),
            "150k (1.50× Redis)"
        );
        assert_eq!(bar_label(Metric::P99, 12.0, None), "12");
    }

    #[test]
    fn long_labels_are_cut() {
        assert_eq!(fit_label("short"), "short");
        let long = "x".repeat(MAX_LABEL_CHARS + 10);
        let cut = fit_label(&long);
        assert_eq!(cut.chars().count(), MAX_LABEL_CHARS);
        assert!(cut.ends_with('…'));
        let rows = [Row {
            section: String::new(),
            label: long,
            corekv_ops: None,
            redis_ops: None,
            corekv_p99_us: None,
            redis_p99_us: None,
        }];
        assert!(label_area_px(&rows) <= (MAX_LABEL_CHARS as f64 * CHAR_PX) as u32 + 24);
    }

    #[test]
    fn renders_every_label_and_bar() {
        let input = parse_input(SAMPLE).unwrap();
        let svg = render_svg(&input).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
        for text in [
            "corekv vs Redis",
            "today, commit abc",
            "redis-benchmark -P 1 SET",
            "text &lt;smart&gt; &amp; co",
            "150k (1.50× Redis)",
            "1.23M",
            "401 (0.50× Redis)",
            "operations per second",
            "p99 latency, µs",
        ] {
            assert!(svg.contains(text), "no {text:?} in the SVG");
        }
        // Two panels: 3 bars each, drawn in the two colours.
        let bars = |c: RGBColor| {
            svg.matches(&format!("fill=\"#{:02X}{:02X}{:02X}\"", c.0, c.1, c.2))
                .count()
        };
        assert_eq!(bars(COREKV), 2 * 2 + 1, "corekv bars + legend");
        assert_eq!(bars(REDIS), 2 + 1, "Redis bars + legend");
    }
}
