//! Charts: plotters draws each one as SVG on the server; [`Figure`] wraps it in a
//! `<figure>` carrying the plotted values (`data-values`, JSON) for tests and scripts, a
//! caption, and an accessible description.
//!
//! Three shapes cover every chart of the dashboard: [`distribution`] (a value per percent
//! position, as bars or an area), [`timeline`] (lines over window starts) and
//! [`categories`] (one bar per type). Text in the SVG is escaped by plotters' SVG backend;
//! labels derived from user input are also clipped here.

use crate::html::{axis_time, escape};
use crate::shape::TimeSeries;
use plotters::prelude::*;
use std::fmt::Write as _;

/// Drawing size in SVG units (the SVG scales to its container through its viewBox).
const SIZE: (u32, u32) = (560, 260);

pub const BLUE: RGBColor = RGBColor(37, 99, 235);
pub const ORANGE: RGBColor = RGBColor(234, 88, 12);
pub const TEAL: RGBColor = RGBColor(13, 148, 136);
pub const PURPLE: RGBColor = RGBColor(124, 58, 237);
const AXIS: RGBColor = RGBColor(100, 116, 139);
const GRID: RGBColor = RGBColor(226, 232, 240);
const LABEL: RGBColor = RGBColor(71, 85, 105);

/// One chart, ready to be written into a page.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    /// `data-chart`: which chart this is (`retention`, `exits`, `seeks`, `timeline`...).
    pub key: &'static str,
    pub title: String,
    /// One sentence for people and screen readers (the SVG's `aria-label` and the caption).
    pub description: String,
    pub svg: String,
    /// `data-values`: exactly what is plotted.
    pub values: serde_json::Value,
    /// Series names and colours, for the legend.
    pub legend: Vec<(&'static str, RGBColor)>,
}

impl Figure {
    /// `<figure class="chart" data-chart=.. data-values=..>` with caption, legend and SVG.
    pub fn write_html(&self, out: &mut String) {
        let _ = write!(
            out,
            r#"<figure class="chart" data-chart="{key}" data-values="{values}"><figcaption><h3>{title}</h3><p>{desc}</p>"#,
            key = self.key,
            values = escape(&self.values.to_string()),
            title = escape(&self.title),
            desc = escape(&self.description),
        );
        if !self.legend.is_empty() {
            out.push_str(r#"<ul class="legend">"#);
            for (name, c) in &self.legend {
                let _ = write!(
                    out,
                    // An SVG fill, not a `style` attribute: the page's CSP allows no inline style attributes.
                    r#"<li><svg class="swatch" viewBox="0 0 1 1" aria-hidden="true"><rect width="1" height="1" fill="rgb({},{},{})"/></svg>{}</li>"#,
                    c.0,
                    c.1,
                    c.2,
                    escape(name)
                );
            }
            out.push_str("</ul>");
        }
        out.push_str("</figcaption>");
        // plotters writes `<svg width=.. height=.. viewBox=..>`: make it an accessible image.
        let svg = self.svg.replacen(
            "<svg ",
            &format!(
                r#"<svg role="img" aria-label="{}" preserveAspectRatio="xMidYMid meet" "#,
                escape(&self.description)
            ),
            1,
        );
        out.push_str(&svg);
        out.push_str("</figure>");
    }
}

/// How a per-position distribution is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Bars,
    Area,
}

/// A drawing failure (plotters' error, as text: the page shows it instead of the chart).
pub type ChartResult = Result<String, String>;

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("chart drawing failed: {e:?}")
}

/// A rounded-up axis maximum with some headroom, at least 1.
fn headroom(max: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let padded = max * 1.1;
    if padded <= 10.0 {
        return padded.ceil();
    }
    let magnitude = 10f64.powf(padded.log10().floor());
    let step = if magnitude >= 1.0 { magnitude / 2.0 } else { magnitude };
    ((padded / step).ceil() * step).max(1.0)
}

/// How many y labels: one per unit on small count axes (no fractional ticks), else 5.
fn y_labels(y_max: f64) -> usize {
    if y_max <= 5.0 { y_max as usize + 1 } else { 5 }
}

/// Short numbers for axes: `950`, `1.2k`, `3.4M`; fractions keep one decimal.
fn short(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Values by percent position (index = percent), e.g. retention (100) or exits (101 each).
/// Several series are drawn over each other (bars side by side are too thin at this size).
pub fn distribution(series: &[(&[u64], RGBColor)], style: Style, y_desc: &str) -> ChartResult {
    let n = series.iter().map(|(v, _)| v.len()).max().unwrap_or(0).max(1);
    let max = series.iter().flat_map(|(v, _)| v.iter()).copied().max().unwrap_or(0) as f64;
    let y_max = headroom(max);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .margin_right(22)
            .x_label_area_size(46)
            .y_label_area_size(52)
            .build_cartesian_2d(0f64..n as f64, 0f64..y_max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .axis_style(AXIS)
            .label_style(("sans-serif", 17).into_font().color(&LABEL))
            .x_labels(11)
            .y_labels(y_labels(y_max))
            .x_label_formatter(&|x| format!("{x:.0}%"))
            .y_label_formatter(&|y| short(*y))
            .x_desc("position in the video")
            .y_desc(y_desc)
            .draw()
            .map_err(err)?;
        for (values, color) in series {
            match style {
                Style::Bars => {
                    chart
                        .draw_series(values.iter().enumerate().filter(|(_, v)| **v > 0).map(|(i, v)| {
                            let x = i as f64;
                            Rectangle::new([(x + 0.1, 0.0), (x + 0.9, *v as f64)], color.mix(0.85).filled())
                        }))
                        .map_err(err)?;
                }
                Style::Area => {
                    // A step per segment: segment s covers [s, s+1).
                    let points = values
                        .iter()
                        .enumerate()
                        .flat_map(|(i, v)| [(i as f64, *v as f64), (i as f64 + 1.0, *v as f64)]);
                    chart
                        .draw_series(AreaSeries::new(points, 0.0, color.mix(0.25)).border_style(color.stroke_width(2)))
                        .map_err(err)?;
                }
            }
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Lines over time: one per column of `series`, coloured by `colors` in order.
pub fn timeline(series: &TimeSeries, colors: &[RGBColor], y_desc: &str) -> ChartResult {
    let xs = &series.window_start;
    let (first, last) = match (xs.first(), xs.last()) {
        (Some(f), Some(l)) => (*f, *l),
        _ => (0, 0),
    };
    // Half a window of room on each side, so single points are not on the axis.
    let step = xs.windows(2).map(|w| w[1] - w[0]).min().unwrap_or(60_000).max(1);
    let (x0, x1) = (first - step / 2, last + step / 2);
    let max = series.columns.iter().flat_map(|(_, v)| v.iter()).copied().max().unwrap_or(0) as f64;
    let span = x1 - x0;
    let y_max = headroom(max);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .margin_right(34)
            .x_label_area_size(46)
            .y_label_area_size(52)
            .build_cartesian_2d(x0..x1, 0f64..y_max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .axis_style(AXIS)
            .label_style(("sans-serif", 17).into_font().color(&LABEL))
            .x_labels(6)
            .y_labels(y_labels(y_max))
            .x_label_formatter(&|x| axis_time(*x, span))
            .y_label_formatter(&|y| short(*y))
            .x_desc("window start (UTC)")
            .y_desc(y_desc)
            .draw()
            .map_err(err)?;
        for ((_, values), color) in series.columns.iter().zip(colors.iter().cycle()) {
            let points: Vec<(i64, f64)> = xs.iter().zip(values).map(|(x, v)| (*x, *v as f64)).collect();
            chart.draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2))).map_err(err)?;
            if points.len() <= 60 {
                chart.draw_series(points.iter().map(|p| Circle::new(*p, 3, color.filled()))).map_err(err)?;
            }
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// One bar per category (largest first), labelled by name (clipped to 14 characters).
pub fn categories(bars: &[(String, f64)], color: RGBColor, y_desc: &str) -> ChartResult {
    let max = bars.iter().map(|(_, v)| *v).fold(0.0, f64::max);
    let mut labels: Vec<String> = bars
        .iter()
        .map(|(l, _)| match l.char_indices().nth(14) {
            Some((i, _)) => format!("{}…", &l[..i]),
            None => l.clone(),
        })
        .collect();
    // A lone bar gets an empty slot on each side (a one-slot axis is degenerate in plotters).
    let offset = usize::from(labels.len() == 1);
    if offset == 1 {
        labels.insert(0, String::new());
        labels.push(String::new());
    }
    let slots = labels.len().max(2) as u32;
    let y_max = headroom(max);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(46)
            .y_label_area_size(52)
            // A segmented 0..k has a slot per value 0..=k.
            .build_cartesian_2d((0u32..slots - 1).into_segmented(), 0f64..y_max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .axis_style(AXIS)
            .label_style(("sans-serif", 17).into_font().color(&LABEL))
            .x_labels(slots as usize)
            .y_labels(y_labels(y_max))
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => labels.get(*i as usize).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .y_label_formatter(&|y| short(*y))
            .y_desc(y_desc)
            .draw()
            .map_err(err)?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
                let slot = (i + offset) as u32;
                let right = if slot + 1 < slots { SegmentValue::Exact(slot + 1) } else { SegmentValue::Last };
                let mut bar = Rectangle::new([(SegmentValue::Exact(slot), 0.0), (right, *v)], color.mix(0.85).filled());
                bar.set_margin(0, 0, 14, 14);
                bar
            }))
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_maxima_have_headroom_and_round_numbers() {
        assert_eq!(headroom(0.0), 1.0);
        assert_eq!(headroom(f64::NAN), 1.0);
        assert_eq!(headroom(1.0), 2.0);
        assert_eq!(headroom(9.0), 10.0);
        assert_eq!(headroom(100.0), 150.0);
        assert_eq!(headroom(0.3), 1.0);
        assert_eq!(headroom(20.0), 25.0);
        assert_eq!((y_labels(2.0), y_labels(1_000.0)), (3, 5));
        assert!(headroom(12_345.0) >= 12_345.0 * 1.1);
        assert_eq!(short(950.0), "950");
        assert_eq!(short(1_234.0), "1.2k");
        assert_eq!(short(45_000.0), "45k");
        assert_eq!(short(2_500_000.0), "2.5M");
        assert_eq!(short(2.5), "2.5");
    }

    #[test]
    fn charts_are_svg_and_escape_their_labels() {
        let values: Vec<u64> = (0..100).map(|i| 100 - i).collect();
        let svg = distribution(&[(&values, BLUE)], Style::Area, "views").unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{svg}");
        assert!(svg.contains("viewBox=\"0 0 560 260\""));
        let svg = categories(&[("<b>poll</b>".into(), 3.0), ("chat".into(), 1.0)], TEAL, "events").unwrap();
        assert!(svg.contains("&lt;b&gt;poll&lt;/b&gt;") && !svg.contains("<b>"), "labels are escaped");
        let series = TimeSeries { window_start: vec![0, 60_000], columns: vec![("plays", vec![1, 2])] };
        assert!(timeline(&series, &[BLUE], "views").unwrap().contains("<polyline"));
        assert!(timeline(&TimeSeries::default(), &[BLUE], "views").is_ok(), "an empty series still draws axes");
        assert!(categories(&[], TEAL, "events").is_ok());
    }

    #[test]
    fn figures_carry_their_values_and_escape_everything() {
        let f = Figure {
            key: "retention",
            title: "Retention of <x>".into(),
            description: "a \"quoted\" description".into(),
            svg: r#"<svg width="640" height="240" viewBox="0 0 640 240"></svg>"#.into(),
            values: serde_json::json!([1, 2, 3]),
            legend: vec![("views", BLUE)],
        };
        let mut html = String::new();
        f.write_html(&mut html);
        assert!(html.contains(r#"data-chart="retention" data-values="[1,2,3]""#), "{html}");
        assert!(html.contains("Retention of &lt;x&gt;"));
        assert!(html.contains(r#"<svg role="img" aria-label="a &quot;quoted&quot; description""#), "{html}");
        assert!(html.contains("rgb(37,99,235)"));
        let f = Figure { values: serde_json::json!({"a\"b": ["<"]}), ..f };
        let mut html = String::new();
        f.write_html(&mut html);
        assert!(html.contains(r#"data-values="{&quot;a\&quot;b&quot;:[&quot;&lt;&quot;]}""#), "{html}");
    }
}
