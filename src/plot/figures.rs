//! The figures of a run: built first as plain data ([`Figure`]: panels, axes, lines, bands,
//! bars), then drawn by one generic routine on the SVG and PNG backends.

use super::read::{GroupKey, Run, Stats, SweepAxis};
use super::{Format, PlotError, MAX_COMBINATION_FIGURES};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The font family name the embedded fonts are registered under (SVG text names it too).
const FAMILY: &str = "sans-serif";
static FONT_REGULAR: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
static FONT_BOLD: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");

// Text sizes in pixels, for a figure printed about 1200 px across a column or page.
const TITLE_PX: u32 = 30;
const PANEL_TITLE_PX: u32 = 24;
const DESC_PX: u32 = 22;
const TICK_PX: u32 = 20;
const LEGEND_PX: u32 = 22;
const NOTE_PX: u32 = 18;
const MARGIN: i32 = 20;
/// Width and opacity of a [`Stroke::Broad`] line.
const BROAD_WIDTH: u32 = 9;
const BROAD_ALPHA: f64 = 0.45;

/// Registers the embedded DejaVu Sans (regular and bold) with plotters, once.
pub fn register_fonts() -> Result<(), String> {
    static ONCE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *ONCE.get_or_init(|| {
        plotters::style::register_font(FAMILY, FontStyle::Normal, FONT_REGULAR).is_ok()
            && plotters::style::register_font(FAMILY, FontStyle::Bold, FONT_BOLD).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err("the embedded DejaVu Sans font could not be loaded".into())
    }
}

fn font(px: u32, bold: bool) -> FontDesc<'static> {
    let style = if bold {
        FontStyle::Bold
    } else {
        FontStyle::Normal
    };
    FontDesc::new(FontFamily::Name(FAMILY), px as f64, style)
}

/// Width of `text` in pixels at `px`.
fn text_width(text: &str, px: u32, bold: bool) -> i32 {
    font(px, bold)
        .box_size(text)
        .map(|(w, _)| w as i32)
        .unwrap_or((text.chars().count() as f64 * px as f64 * 0.62) as i32)
}

// ---------------------------------------------------------------------------------------------
// Colours

/// The Okabe–Ito colour-blind-safe palette (black, orange, sky blue, bluish green, yellow,
/// blue, vermillion, reddish purple).
const OKABE_ITO: [RGBColor; 8] = [
    RGBColor(0, 0, 0),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 158, 115),
    RGBColor(240, 228, 66),
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(204, 121, 167),
];

/// Fixed colours of the built-in learners, so that a learner looks the same in every run.
const KNOWN: [(&str, usize); 7] = [
    ("bp-digital", 0),
    ("bp-oracle", 5),
    ("bp-mirror", 2),
    ("fa", 1),
    ("dfa", 6),
    ("sg", 3),
    ("ff", 7),
];

/// One colour per learner of the run (index = learner index): built-in learners keep their
/// fixed colour; others take the colours left, in order of appearance.
pub fn learner_colours(learners: &[String]) -> Vec<RGBColor> {
    let fixed = |name: &str| KNOWN.iter().find(|(n, _)| *n == name).map(|&(_, i)| i);
    let used: Vec<usize> = learners.iter().filter_map(|l| fixed(l)).collect();
    // Yellow is pale on white: it comes after grey and the unused palette colours.
    let mut pool: Vec<RGBColor> = [1, 2, 3, 5, 6, 7, 0]
        .iter()
        .filter(|i| !used.contains(i))
        .map(|&i| OKABE_ITO[i])
        .collect();
    pool.insert(0, RGBColor(110, 110, 110));
    pool.push(RGBColor(190, 175, 20));
    let mut next = 0;
    learners
        .iter()
        .map(|l| match fixed(l) {
            Some(i) => OKABE_ITO[i],
            None => {
                let c = pool[next % pool.len()];
                next += 1;
                c
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The figure as data

/// A point marker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Marker {
    /// No marker.
    None,
    /// Filled circle.
    Circle,
    /// Hollow square.
    Square,
}

/// How a line is stroked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stroke {
    /// A continuous line.
    Solid,
    /// Dashes.
    Dashed,
    /// Dots.
    Dotted,
    /// A broad, pale continuous line: a background quantity drawn under the data (the
    /// colour is lightened).
    Broad,
}

impl Stroke {
    /// The strokes in the order sweep values take them.
    pub const ALL: [Stroke; 3] = [Stroke::Solid, Stroke::Dashed, Stroke::Dotted];
}

/// What a legend entry shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sample {
    /// A line, solid, dashed or dotted, with a marker.
    Line {
        /// How the line is stroked.
        stroke: Stroke,
        /// The marker on it.
        marker: Marker,
    },
    /// A filled patch (bars, bands).
    Patch {
        /// Opacity of the fill.
        alpha: f64,
    },
    /// An × marker.
    Cross,
}

/// One legend entry.
#[derive(Debug, Clone, PartialEq)]
pub struct LegendEntry {
    /// The text.
    pub label: String,
    /// The colour of the sample.
    pub colour: RGBColor,
    /// The sample drawn before the text.
    pub sample: Sample,
}

/// Something drawn in a panel, in data coordinates (already transformed for log axes).
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A shaded band between `lower` and `upper` (same x values).
    Band {
        /// Fill colour (drawn translucent).
        colour: RGBColor,
        /// Upper edge.
        upper: Vec<(f64, f64)>,
        /// Lower edge.
        lower: Vec<(f64, f64)>,
    },
    /// A polyline with markers at its points.
    Line {
        /// Colour.
        colour: RGBColor,
        /// Points.
        points: Vec<(f64, f64)>,
        /// How the line is stroked.
        stroke: Stroke,
        /// Marker at each point.
        marker: Marker,
    },
    /// A vertical error bar with caps.
    ErrorBar {
        /// Colour.
        colour: RGBColor,
        /// Position.
        x: f64,
        /// Lower end.
        lo: f64,
        /// Upper end.
        hi: f64,
    },
    /// A filled bar.
    Bar {
        /// Colour.
        colour: RGBColor,
        /// Left and right edges.
        x: (f64, f64),
        /// Bottom and top.
        y: (f64, f64),
    },
    /// An × marker.
    Cross {
        /// Colour.
        colour: RGBColor,
        /// Position.
        at: (f64, f64),
    },
}

/// One axis of a panel: its range, labelled ticks and light grid lines, in (transformed) data
/// coordinates.
#[derive(Debug, Clone, PartialEq)]
pub struct AxisSpec {
    /// Lower end.
    pub lo: f64,
    /// Upper end.
    pub hi: f64,
    /// Labelled ticks (with grid lines).
    pub ticks: Vec<(f64, String)>,
    /// Unlabelled light grid lines.
    pub minor: Vec<f64>,
    /// The axis label, with its unit.
    pub desc: String,
    /// Whether grid lines are drawn at the ticks (not between bars).
    pub grid: bool,
}

/// One panel: a chart with its own title.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// Title above the chart.
    pub title: String,
    /// Horizontal axis.
    pub x: AxisSpec,
    /// Vertical axis.
    pub y: AxisSpec,
    /// What is drawn, in order.
    pub items: Vec<Item>,
    /// A second vertical axis on the right, with what is drawn against it.
    pub secondary: Option<Secondary>,
}

/// A secondary (right-hand) vertical axis of a panel and the items drawn in its coordinates
/// (under the primary items, so the main data stays on top).
#[derive(Debug, Clone, PartialEq)]
pub struct Secondary {
    /// The axis: range, ticks (no grid lines of its own) and label.
    pub axis: AxisSpec,
    /// Colour of the axis' tick labels and label (the colour of its data).
    pub colour: RGBColor,
    /// What is drawn against this axis, in order.
    pub items: Vec<Item>,
}

/// A whole figure: title, legend strip and notes above a grid of panels.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// File name without extension.
    pub name: String,
    /// Title.
    pub title: String,
    /// Legend entries (drawn in a strip under the title, never over the data).
    pub legend: Vec<LegendEntry>,
    /// Lines of small text under the legend.
    pub notes: Vec<String>,
    /// Panels, row by row.
    pub panels: Vec<Panel>,
    /// Panels per row.
    pub cols: usize,
    /// Size of one panel in pixels.
    pub panel_size: (u32, u32),
}

pub(super) fn layout(n: usize) -> (usize, (u32, u32)) {
    let cols = match n {
        0..=3 => n.max(1),
        4 => 2,
        5..=9 => 3,
        _ => 4,
    };
    let size = if cols == 1 { (1200, 700) } else { (600, 480) };
    (cols, size)
}

impl Figure {
    fn width(&self) -> u32 {
        (self.cols as u32 * self.panel_size.0).max(800)
    }

    /// The legend entries' positions `(x, row)`, wrapped to the figure's width.
    fn legend_rows(&self) -> Vec<(i32, usize)> {
        let mut out = Vec::new();
        let (mut x, mut row) = (MARGIN, 0);
        let limit = self.width() as i32 - MARGIN;
        for e in &self.legend {
            let w = 48 + text_width(&e.label, LEGEND_PX, false) + 28;
            if x + w > limit && x > MARGIN {
                x = MARGIN;
                row += 1;
            }
            out.push((x, row));
            x += w;
        }
        out
    }

    /// The notes, word-wrapped to the figure's width.
    fn note_lines(&self) -> Vec<String> {
        let limit = self.width() as i32 - 2 * MARGIN;
        let mut lines = Vec::new();
        for note in &self.notes {
            let mut line = String::new();
            for word in note.split(' ') {
                let candidate = if line.is_empty() {
                    word.to_string()
                } else {
                    format!("{line} {word}")
                };
                if !line.is_empty() && text_width(&candidate, NOTE_PX, false) > limit {
                    lines.push(std::mem::replace(&mut line, word.to_string()));
                } else {
                    line = candidate;
                }
            }
            lines.push(line);
        }
        lines
    }

    fn header_height(&self) -> u32 {
        let legend_rows = self.legend_rows().last().map_or(0, |l| l.1 + 1);
        (16 + 40 + 34 * legend_rows + 26 * self.note_lines().len() + 10) as u32
    }

    /// Width and height in pixels.
    pub fn size(&self) -> (u32, u32) {
        let rows = self.panels.len().div_ceil(self.cols) as u32;
        (
            self.width(),
            self.header_height() + rows * self.panel_size.1,
        )
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        root.fill(&WHITE).map_err(err)?;
        let (w, _) = self.size();
        let (header, body) = root.split_vertically(self.header_height());
        header
            .draw(&Text::new(
                self.title.clone(),
                (w as i32 / 2, 16),
                TextStyle::from(font(TITLE_PX, true)).pos(Pos::new(HPos::Center, VPos::Top)),
            ))
            .map_err(err)?;
        let legend_top = 16 + 40 + 17;
        for (e, (x, row)) in self.legend.iter().zip(self.legend_rows()) {
            let y = legend_top + 34 * row as i32;
            draw_sample(&header, e, x, y).map_err(err)?;
            header
                .draw(&Text::new(
                    e.label.clone(),
                    (x + 48, y),
                    TextStyle::from(font(LEGEND_PX, false)).pos(Pos::new(HPos::Left, VPos::Center)),
                ))
                .map_err(err)?;
        }
        let rows = self.legend_rows().last().map_or(0, |l| l.1 + 1) as i32;
        for (i, note) in self.note_lines().into_iter().enumerate() {
            header
                .draw(&Text::new(
                    note,
                    (MARGIN, 16 + 40 + 34 * rows + 26 * i as i32 + 4),
                    TextStyle::from(font(NOTE_PX, false))
                        .color(&RGBColor(60, 60, 60))
                        .pos(Pos::new(HPos::Left, VPos::Top)),
                ))
                .map_err(err)?;
        }
        let rows = self.panels.len().div_ceil(self.cols);
        let (pw, ph) = self.panel_size;
        let grid = body.margin(0, 0, 0, 0);
        for (i, panel) in self.panels.iter().enumerate() {
            let (r, c) = ((i / self.cols) as i32, (i % self.cols) as i32);
            debug_assert!((r as usize) < rows);
            let area = grid
                .clone()
                .shrink((c * pw as i32, r * ph as i32), (pw, ph));
            panel.draw(&area).map_err(err)?;
        }
        Ok(())
    }
}

fn draw_sample<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    e: &LegendEntry,
    x: i32,
    y: i32,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let c = e.colour;
    match e.sample {
        Sample::Line { stroke, marker } => {
            match stroke {
                Stroke::Dashed => {
                    for k in 0..3 {
                        let x0 = x + k * 15;
                        area.draw(&PathElement::new(
                            vec![(x0, y), (x0 + 9, y)],
                            c.stroke_width(3),
                        ))?;
                    }
                }
                Stroke::Dotted => {
                    for k in 0..5 {
                        area.draw(&Circle::new((x + 2 + 8 * k, y), 2, c.filled()))?;
                    }
                }
                Stroke::Solid => {
                    area.draw(&PathElement::new(
                        vec![(x, y), (x + 38, y)],
                        c.stroke_width(3),
                    ))?;
                }
                Stroke::Broad => {
                    area.draw(&PathElement::new(
                        vec![(x, y), (x + 38, y)],
                        c.mix(BROAD_ALPHA).stroke_width(BROAD_WIDTH),
                    ))?;
                }
            }
            draw_marker(area, marker, c, (x + 19, y))?;
        }
        Sample::Patch { alpha } => {
            area.draw(&Rectangle::new(
                [(x + 4, y - 10), (x + 34, y + 10)],
                c.mix(alpha).filled(),
            ))?;
            area.draw(&Rectangle::new(
                [(x + 4, y - 10), (x + 34, y + 10)],
                c.stroke_width(1),
            ))?;
        }
        Sample::Cross => {
            area.draw(&Cross::new((x + 19, y), 7, c.stroke_width(3)))?;
        }
    }
    Ok(())
}

fn draw_marker<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    marker: Marker,
    c: RGBColor,
    at: (i32, i32),
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    match marker {
        Marker::None => Ok(()),
        Marker::Circle => area.draw(&Circle::new(at, 6, c.filled())),
        Marker::Square => {
            area.draw(&Rectangle::new(
                [(at.0 - 6, at.1 - 6), (at.0 + 6, at.1 + 6)],
                WHITE.filled(),
            ))?;
            area.draw(&Rectangle::new(
                [(at.0 - 6, at.1 - 6), (at.0 + 6, at.1 + 6)],
                c.stroke_width(2),
            ))
        }
    }
}

/// Draws `items` on `$chart` with its method `$draw` (`draw_series` for the primary
/// coordinates, `draw_secondary_series` for the secondary ones), clamping points to the ranges
/// `$xr` and `$yr`. A macro, because the two methods take differently typed charts.
macro_rules! draw_items {
    ($chart:expr, $draw:ident, $items:expr, $xr:expr, $yr:expr) => {{
        let (xr, yr): ((f64, f64), (f64, f64)) = ($xr, $yr);
        let clamp = |p: (f64, f64)| (p.0.clamp(xr.0, xr.1), p.1.clamp(yr.0, yr.1));
        for item in $items {
            match item {
                Item::Band {
                    colour,
                    upper,
                    lower,
                } => {
                    let mut pts: Vec<(f64, f64)> = upper.iter().map(|&p| clamp(p)).collect();
                    pts.extend(lower.iter().rev().map(|&p| clamp(p)));
                    $chart.$draw(std::iter::once(Polygon::new(
                        pts,
                        colour.mix(0.18).filled(),
                    )))?;
                }
                Item::Line {
                    colour,
                    points,
                    stroke,
                    marker,
                } => {
                    let pts: Vec<(f64, f64)> = points.iter().map(|&p| clamp(p)).collect();
                    match stroke {
                        Stroke::Dashed => {
                            $chart.$draw(DashedLineSeries::new(
                                pts.clone(),
                                12,
                                7,
                                colour.stroke_width(3),
                            ))?;
                        }
                        Stroke::Dotted => {
                            let c = *colour;
                            $chart.$draw(DottedLineSeries::new(pts.clone(), 0, 8, move |p| {
                                Circle::new(p, 2, c.filled())
                            }))?;
                        }
                        Stroke::Solid => {
                            $chart.$draw(LineSeries::new(pts.clone(), colour.stroke_width(3)))?;
                        }
                        Stroke::Broad => {
                            $chart.$draw(LineSeries::new(
                                pts.clone(),
                                colour.mix(BROAD_ALPHA).stroke_width(BROAD_WIDTH),
                            ))?;
                        }
                    }
                    for p in pts {
                        match marker {
                            Marker::None => {}
                            Marker::Circle => {
                                $chart.$draw(std::iter::once(
                                    EmptyElement::at(p) + Circle::new((0, 0), 6, colour.filled()),
                                ))?;
                            }
                            Marker::Square => {
                                $chart.$draw(std::iter::once(
                                    EmptyElement::at(p)
                                        + Rectangle::new([(-6, -6), (6, 6)], WHITE.filled())
                                        + Rectangle::new(
                                            [(-6, -6), (6, 6)],
                                            colour.stroke_width(2),
                                        ),
                                ))?;
                            }
                        }
                    }
                }
                Item::ErrorBar { colour, x, lo, hi } => {
                    let (a, b) = (clamp((*x, *lo)), clamp((*x, *hi)));
                    let style = colour.stroke_width(2);
                    $chart.$draw(std::iter::once(PathElement::new(vec![a, b], style)))?;
                    for end in [a, b] {
                        $chart.$draw(std::iter::once(
                            EmptyElement::at(end) + PathElement::new(vec![(-7, 0), (7, 0)], style),
                        ))?;
                    }
                }
                Item::Bar { colour, x, y } => {
                    let r = [clamp((x.0, y.0)), clamp((x.1, y.1))];
                    $chart.$draw(std::iter::once(Rectangle::new(r, colour.filled())))?;
                    $chart.$draw(std::iter::once(Rectangle::new(
                        r,
                        RGBColor(30, 30, 30).stroke_width(1),
                    )))?;
                }
                Item::Cross { colour, at } => {
                    $chart.$draw(std::iter::once(Cross::new(
                        clamp(*at),
                        8,
                        colour.stroke_width(3),
                    )))?;
                }
            }
        }
    }};
}

/// The label of the tick at `v`, or nothing (plotters asks only for our own tick positions).
fn tick_label(ticks: &[(f64, String)], v: f64) -> String {
    ticks
        .iter()
        .find(|t| t.0 == v)
        .map(|t| t.1.clone())
        .unwrap_or_default()
}

/// Width of the widest tick label of `axis`, in pixels.
fn tick_width(axis: &AxisSpec) -> i32 {
    axis.ticks
        .iter()
        .map(|(_, l)| text_width(l, TICK_PX, false))
        .max()
        .unwrap_or(0)
}

impl Panel {
    fn draw<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let mut builder = ChartBuilder::on(area);
        builder
            .caption(self.title.clone(), font(PANEL_TITLE_PX, true))
            .margin_top(10)
            .margin_bottom(6)
            .margin_left(12)
            .x_label_area_size(TICK_PX + DESC_PX + 22)
            .y_label_area_size(tick_width(&self.y) as u32 + DESC_PX + 30);
        match &self.secondary {
            None => builder.margin_right(30),
            Some(s) => builder
                .margin_right(12)
                .right_y_label_area_size(tick_width(&s.axis) as u32 + DESC_PX + 30),
        };
        let chart = builder.build_cartesian_2d(Ticked::of(&self.x), Ticked::of(&self.y))?;
        let xl = |v: &f64| tick_label(&self.x.ticks, *v);
        let yl = |v: &f64| tick_label(&self.y.ticks, *v);
        let xr = (self.x.lo, self.x.hi);
        let yr = (self.y.lo, self.y.hi);
        let configure = |chart: &mut ChartContext<DB, Cartesian2d<Ticked, Ticked>>| {
            let mut mesh = chart.configure_mesh();
            if !self.x.grid {
                mesh.disable_x_mesh();
            }
            if !self.y.grid {
                mesh.disable_y_mesh();
            }
            mesh.x_desc(self.x.desc.clone())
                .y_desc(self.y.desc.clone())
                .x_label_formatter(&xl)
                .y_label_formatter(&yl)
                .label_style(font(TICK_PX, false))
                .axis_desc_style(font(DESC_PX, false))
                .bold_line_style(RGBColor(205, 205, 205).stroke_width(1))
                .light_line_style(RGBColor(238, 238, 238).stroke_width(1))
                .axis_style(RGBColor(40, 40, 40).stroke_width(1))
                .set_all_tick_mark_size(6)
                .draw()
        };
        match &self.secondary {
            None => {
                let mut chart = chart;
                configure(&mut chart)?;
                draw_items!(chart, draw_series, &self.items, xr, yr);
            }
            Some(s) => {
                let mut chart = chart.set_secondary_coord(Ticked::of(&self.x), Ticked::of(&s.axis));
                configure(&mut chart)?;
                let sl = |v: &f64| tick_label(&s.axis.ticks, *v);
                chart
                    .configure_secondary_axes()
                    .y_desc(s.axis.desc.clone())
                    .y_label_formatter(&sl)
                    .label_style(font(TICK_PX, false).color(&s.colour))
                    .axis_desc_style(font(DESC_PX, false).color(&s.colour))
                    .axis_style(s.colour.stroke_width(1))
                    .set_all_tick_mark_size(6)
                    .draw()?;
                let sr = (s.axis.lo, s.axis.hi);
                draw_items!(chart, draw_secondary_series, &s.items, xr, sr);
                draw_items!(chart, draw_series, &self.items, xr, yr);
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Axes and ticks

/// A linear plotters coordinate with our own tick positions (labels come from the formatter).
struct Ticked {
    lo: f64,
    hi: f64,
    major: Vec<f64>,
    minor: Vec<f64>,
}

impl Ticked {
    fn of(a: &AxisSpec) -> Ticked {
        Ticked {
            lo: a.lo,
            hi: a.hi,
            major: a.ticks.iter().map(|t| t.0).collect(),
            minor: a.minor.clone(),
        }
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let t = if self.hi > self.lo {
            (v - self.lo) / (self.hi - self.lo)
        } else {
            0.5
        };
        limit.0 + ((limit.1 - limit.0) as f64 * t).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.minor.clone()
        } else {
            self.major.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// "Nice" tick positions (1, 2 or 5 × 10^k apart) covering `[lo, hi]`, about `target` of them,
/// and the step.
pub fn nice_ticks(lo: f64, hi: f64, target: usize, min_step: f64) -> (Vec<f64>, f64) {
    let span = (hi - lo).max(1e-12);
    let raw = span / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let step = (if norm < 1.5 {
        1.0
    } else if norm < 3.0 {
        2.0
    } else if norm < 7.0 {
        5.0
    } else {
        10.0
    } * mag)
        .max(min_step);
    let mut ticks = Vec::new();
    let mut k = (lo / step).ceil();
    while k * step <= hi + step * 1e-9 {
        ticks.push(k * step);
        k += 1.0;
    }
    (ticks, step)
}

fn fmt_tick(v: f64, step: f64) -> String {
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    let s = format!("{v:.decimals$}");
    if s.trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        format!("{:.decimals$}", 0.0)
    } else {
        s
    }
}

fn superscript(n: i32) -> String {
    n.to_string()
        .chars()
        .map(|c| match c {
            '-' => '⁻',
            '0' => '⁰',
            '1' => '¹',
            '2' => '²',
            '3' => '³',
            '4' => '⁴',
            '5' => '⁵',
            '6' => '⁶',
            '7' => '⁷',
            '8' => '⁸',
            _ => '⁹',
        })
        .collect()
}

/// `m × 10^k` written for a tick label: plain (`0.01`) or as a power (`10⁻⁹`).
fn fmt_power(m: u32, k: i32, plain: bool) -> String {
    if plain {
        let v = m as f64 * 10f64.powi(k);
        let decimals = (-k).max(0) as usize;
        format!("{v:.decimals$}")
    } else if m == 1 {
        format!("10{}", superscript(k))
    } else {
        format!("{m}·10{}", superscript(k))
    }
}

/// A linear axis over `[lo, hi]` with nice ticks.
pub(super) fn linear_axis(
    lo: f64,
    hi: f64,
    target: usize,
    min_step: f64,
    desc: String,
) -> AxisSpec {
    let (ticks, step) = nice_ticks(lo, hi, target, min_step);
    AxisSpec {
        lo,
        hi,
        ticks: ticks.into_iter().map(|t| (t, fmt_tick(t, step))).collect(),
        minor: Vec::new(),
        desc,
        grid: true,
    }
}

/// A log axis in log10 coordinates over `[lo, hi]` (decades), with labelled decades (every
/// second one when there are many) and light lines at 2…9 × 10^k.
/// An axis over the counts `lo..=hi` (epochs, tasks) padded by `pad` of the span on each side
/// (half a step when there is one value); integer ticks from 1.
pub fn count_axis(lo: u32, hi: u32, pad: f64, desc: &str) -> AxisSpec {
    let (xlo, xhi) = if lo == hi {
        (lo as f64 - 0.5, hi as f64 + 0.5)
    } else {
        let pad = pad * (hi - lo) as f64;
        (lo as f64 - pad, hi as f64 + pad)
    };
    let mut x = linear_axis(xlo, xhi, 8, 1.0, desc.into());
    x.ticks.retain(|t| t.0 >= 1.0);
    x
}

fn log_axis(lo: f64, hi: f64, desc: String) -> AxisSpec {
    let (k0, k1) = (lo.floor() as i32, hi.ceil() as i32);
    let decades = (k1 - k0).max(1);
    let every = if decades > 8 { 2 } else { 1 };
    // One notation on the whole axis: plain numbers when every decade reads well so.
    let plain = k0 >= -3 && k1 <= 4;
    let mut ticks = Vec::new();
    let mut minor = Vec::new();
    for k in k0..=k1 {
        let p = k as f64;
        if p >= lo - 1e-9 && p <= hi + 1e-9 && k.rem_euclid(every) == 0 {
            ticks.push((p, fmt_power(1, k, plain)));
        }
        for m in 2..10u32 {
            let q = p + (m as f64).log10();
            if q > lo && q < hi {
                if decades <= 5 {
                    minor.push(q);
                }
                // Under two decades shown: label 2 and 5 as well, so there are enough labels.
                if decades <= 2 && (m == 2 || m == 5) {
                    ticks.push((q, fmt_power(m, k, plain)));
                }
            }
        }
    }
    ticks.sort_by(|a, b| a.0.total_cmp(&b.0));
    AxisSpec {
        lo,
        hi,
        ticks,
        minor,
        desc,
        grid: true,
    }
}

/// Range `[lo, hi]` of `values` with a margin of `frac` of the span (at least `min_span`
/// wide), clamped to `[floor, ceil]`.
pub(super) fn padded(
    values: impl IntoIterator<Item = f64>,
    frac: f64,
    min_span: f64,
    floor: f64,
    ceil: f64,
) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.into_iter().filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (floor.max(0.0), ceil.min(1.0));
    }
    if hi - lo < min_span {
        let mid = (hi + lo) / 2.0;
        lo = mid - min_span / 2.0;
        hi = mid + min_span / 2.0;
    }
    let pad = (hi - lo) * frac;
    let (mut lo, mut hi) = ((lo - pad).max(floor), (hi + pad).min(ceil));
    if hi <= lo {
        // Everything clamped to one end: open the range inwards.
        if hi >= ceil {
            lo = hi - min_span;
        } else {
            hi = lo + min_span;
        }
    }
    (lo, hi)
}

/// The accuracy axis (percent) fitting `values` (percent), with margins, within [0, 100].
pub(super) fn accuracy_axis(values: impl IntoIterator<Item = f64>, desc: &str) -> AxisSpec {
    let (lo, hi) = padded(values, 0.08, 5.0, 0.0, 100.0);
    linear_axis(lo, hi, 6, 0.0, desc.to_string())
}

/// Where each value of a sweep axis goes on a horizontal axis, and that axis.
///
/// Categorical values (or a single value) are evenly spaced with their labels; numbers > 0
/// spanning more than two decades go on a log axis (a 0 among them gets its own slot one
/// decade below the smallest positive value, labelled 0); other numbers on a linear axis.
pub fn sweep_x(axis: &SweepAxis, desc: String) -> (Vec<f64>, AxisSpec) {
    let categorical = |desc: String| {
        let n = axis.labels.len();
        let pos: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let spec = AxisSpec {
            lo: -0.5,
            hi: n as f64 - 0.5,
            ticks: axis
                .labels
                .iter()
                .enumerate()
                .map(|(i, l)| (i as f64, l.clone()))
                .collect(),
            minor: Vec::new(),
            desc,
            grid: true,
        };
        (pos, spec)
    };
    let Some(nums) = &axis.numbers else {
        return categorical(desc);
    };
    // A non-finite value (`inf`: "never") has no place on a numeric axis.
    if nums.len() < 2 || nums.iter().any(|v| !v.is_finite()) {
        return categorical(desc);
    }
    let positive: Vec<f64> = nums.iter().copied().filter(|&v| v > 0.0).collect();
    let any_negative = nums.iter().any(|&v| v < 0.0);
    let min_pos = positive.iter().copied().fold(f64::INFINITY, f64::min);
    let max_pos = positive.iter().copied().fold(0.0, f64::max);
    if !any_negative && positive.len() >= 2 && max_pos / min_pos > 100.0 {
        let zero_at = min_pos.log10().floor() - 1.0;
        let pos: Vec<f64> = nums
            .iter()
            .map(|&v| if v > 0.0 { v.log10() } else { zero_at })
            .collect();
        let lo = pos.iter().copied().fold(f64::INFINITY, f64::min) - 0.25;
        let hi = max_pos.log10() + 0.25;
        let mut spec = log_axis(lo, hi, desc);
        if nums.contains(&0.0) {
            spec.ticks.retain(|t| t.0 > zero_at + 0.5);
            spec.minor.retain(|&m| m > min_pos.log10());
            spec.ticks.insert(0, (zero_at, "0".into()));
        }
        return (pos, spec);
    }
    let (lo, hi) = padded(
        nums.iter().copied(),
        0.06,
        1e-12,
        f64::NEG_INFINITY,
        f64::INFINITY,
    );
    (nums.clone(), linear_axis(lo, hi, 6, 0.0, desc))
}

/// A log time axis (log10 seconds) with human tick labels (1 s, 1 min, 1 h, 1 d, 1 mo, 1 y…)
/// chosen so that labels do not collide on a plot `width_px` wide.
fn time_axis(lo: f64, hi: f64, width_px: f64, desc: String) -> AxisSpec {
    const DAY: f64 = 86_400.0;
    const YEAR: f64 = 365.25 * DAY;
    // In order of preference.
    let candidates: [(f64, &str); 18] = [
        (1.0, "1 s"),
        (3600.0, "1 h"),
        (DAY, "1 d"),
        (YEAR, "1 y"),
        (60.0, "1 min"),
        (30.0 * DAY, "1 mo"),
        (10.0 * YEAR, "10 y"),
        (1e-3, "1 ms"),
        (7.0 * DAY, "1 wk"),
        (100.0 * YEAR, "100 y"),
        (10.0, "10 s"),
        (600.0, "10 min"),
        (0.1, "0.1 s"),
        (1e-6, "1 µs"),
        (1e3 * YEAR, "1000 y"),
        (0.01, "10 ms"),
        (1e4 * YEAR, "10⁴ y"),
        (1e-9, "1 ns"),
    ];
    let per_unit = width_px / (hi - lo).max(1e-9);
    let mut chosen: Vec<(f64, String, f64)> = Vec::new();
    for (t, label) in candidates {
        let p = t.log10();
        if p < lo || p > hi {
            continue;
        }
        let half = text_width(label, TICK_PX, false) as f64 / 2.0 + 10.0;
        let clear = chosen
            .iter()
            .all(|(q, _, h)| (q - p).abs() * per_unit > half + h);
        if clear {
            chosen.push((p, label.to_string(), half));
        }
    }
    chosen.sort_by(|a, b| a.0.total_cmp(&b.0));
    let minor = ((lo.ceil() as i32)..=(hi.floor() as i32))
        .map(|k| k as f64)
        .filter(|p| chosen.iter().all(|c| (c.0 - p).abs() > 1e-9))
        .collect();
    AxisSpec {
        lo,
        hi,
        ticks: chosen.into_iter().map(|c| (c.0, c.1)).collect(),
        minor,
        desc,
        grid: true,
    }
}

/// The unit of a parameter path, from its suffix (`_s`, `_j`, `_us`…), as ` (unit)`.
fn unit_of(path: &str) -> &'static str {
    let last = path.rsplit('.').next().unwrap_or(path);
    for (suffix, unit) in [
        ("_per_s", " (1/s)"),
        ("_us", " (µS)"),
        ("_ns", " (ns)"),
        ("_s", " (s)"),
        ("_j", " (J)"),
        ("_pulses", " (pulses)"),
    ] {
        if last.ends_with(suffix) {
            return unit;
        }
    }
    ""
}

/// Whether a standard deviation is worth an error bar or band (not rounding noise).
pub(super) fn has_spread(s: &Stats) -> bool {
    s.std > 1e-9 * s.mean.abs()
}

/// A file-name-safe version of `s`.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '=' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The figures

/// The `_axis=value` file-name suffix of a sweep value combination.
fn combination_suffix(run: &Run, combination: &[usize]) -> String {
    run.axes
        .iter()
        .zip(combination)
        .map(|(a, &i)| {
            format!(
                "_{}",
                sanitize(&format!("{}={}", a.short_name(), a.labels[i]))
            )
        })
        .collect()
}

fn with_combination(run: &Run, title: String, combination: &[usize]) -> String {
    let d = run.describe(combination);
    if d.is_empty() {
        title
    } else {
        format!("{title} ({})", d.join(", "))
    }
}

pub(super) fn count_note(ns: impl IntoIterator<Item = usize>) -> String {
    let ns: Vec<usize> = ns.into_iter().collect();
    let (lo, hi) = (
        ns.iter().copied().min().unwrap_or(0),
        ns.iter().copied().max().unwrap_or(0),
    );
    if lo == hi {
        format!("n = {lo}")
    } else {
        format!("n = {lo}–{hi}")
    }
}

pub(super) fn learner_legend(
    run: &Run,
    colours: &[RGBColor],
    learners: &[usize],
    sample: Sample,
) -> Vec<LegendEntry> {
    learners
        .iter()
        .map(|&l| LegendEntry {
            label: run.learners[l].clone(),
            colour: colours[l],
            sample,
        })
        .collect()
}

pub(super) fn sorted_unique(v: impl IntoIterator<Item = usize>) -> Vec<usize> {
    let mut v: Vec<usize> = v.into_iter().collect();
    v.sort();
    v.dedup();
    v
}

/// Test accuracy per epoch for one sweep value combination: one panel per device, one line
/// per learner (mean over seeds) with a ±1 s.d. band. Stream groups (per task, not per epoch)
/// are left out: the `lifetime` figure shows them.
pub fn accuracy_vs_epoch(run: &Run, combination: &[usize], colours: &[RGBColor]) -> Option<Figure> {
    let curves: BTreeMap<GroupKey, Vec<(u32, Stats)>> = run
        .per_epoch("test_accuracy")
        .into_iter()
        .filter(|(k, _)| k.sweep == combination && !run.stream_groups.contains(k))
        .collect();
    if curves.is_empty() {
        return None;
    }
    let devices = sorted_unique(curves.keys().map(|k| k.device));
    let learners = sorted_unique(curves.keys().map(|k| k.learner));
    let max_epoch = curves
        .values()
        .flatten()
        .map(|(e, _)| *e)
        .max()
        .unwrap_or(1);
    let min_epoch = curves
        .values()
        .flatten()
        .map(|(e, _)| *e)
        .min()
        .unwrap_or(1);
    let x = count_axis(min_epoch, max_epoch, 0.04, "epoch");
    // Markers on every epoch while they stay apart.
    let marker = if max_epoch - min_epoch < 16 {
        Marker::Circle
    } else {
        Marker::None
    };
    let y = accuracy_axis(
        curves
            .values()
            .flatten()
            .flat_map(|(_, s)| [100.0 * (s.mean - s.std), 100.0 * (s.mean + s.std)]),
        "test accuracy (%)",
    );
    let any_band = curves
        .values()
        .flatten()
        .any(|(_, s)| s.n > 1 && has_spread(s));
    let panels = devices
        .iter()
        .map(|&d| {
            let mut items = Vec::new();
            for (k, c) in curves.iter().filter(|(k, _)| k.device == d) {
                let colour = colours[k.learner];
                let pt = |e: u32, v: f64| (e as f64, 100.0 * v);
                if c.iter().any(|(_, s)| has_spread(s)) {
                    items.push(Item::Band {
                        colour,
                        upper: c.iter().map(|(e, s)| pt(*e, s.mean + s.std)).collect(),
                        lower: c.iter().map(|(e, s)| pt(*e, s.mean - s.std)).collect(),
                    });
                }
            }
            for (k, c) in curves.iter().filter(|(k, _)| k.device == d) {
                items.push(Item::Line {
                    colour: colours[k.learner],
                    points: c.iter().map(|(e, s)| (*e as f64, 100.0 * s.mean)).collect(),
                    stroke: Stroke::Solid,
                    marker: if c.len() == 1 { Marker::Circle } else { marker },
                });
            }
            Panel {
                title: run.devices[d].clone(),
                x: x.clone(),
                y: y.clone(),
                items,
                secondary: None,
            }
        })
        .collect::<Vec<_>>();
    let mut legend = learner_legend(
        run,
        colours,
        &learners,
        Sample::Line {
            stroke: Stroke::Solid,
            marker,
        },
    );
    let n = count_note(curves.values().flatten().map(|(_, s)| s.n));
    let mut note = format!("Lines: mean over seeds ({n} per point)");
    if any_band {
        legend.push(LegendEntry {
            label: "±1 s.d. over seeds".into(),
            colour: RGBColor(90, 90, 90),
            sample: Sample::Patch { alpha: 0.25 },
        });
        note.push_str("; shaded: ±1 standard deviation over seeds");
    }
    note.push('.');
    let (cols, panel_size) = layout(panels.len());
    Some(Figure {
        name: format!("accuracy_vs_epoch{}", combination_suffix(run, combination)),
        title: with_combination(
            run,
            format!("Test accuracy per epoch — {}", run.experiment),
            combination,
        ),
        legend,
        notes: vec![note],
        panels,
        cols,
        panel_size,
    })
}

/// Final test accuracy against the values of sweep axis `a`: one panel per device (and per
/// value of the other axis, when there are two), one line per learner with ±1 s.d. error bars;
/// × marks a value where every seed diverged.
pub fn accuracy_vs_axis(run: &Run, a: usize, colours: &[RGBColor]) -> Option<Figure> {
    let axis = run.axes.get(a)?;
    let finals = run.final_accuracy();
    if finals.is_empty() {
        return None;
    }
    let other = if run.axes.len() == 2 {
        Some(1 - a)
    } else {
        None
    };
    let desc = match &axis.label {
        Some(l) => l.clone(),
        None => format!("{}{}", axis.path, unit_of(&axis.path)),
    };
    let (pos, x) = sweep_x(axis, desc);
    let span = x.hi - x.lo;
    let learners = sorted_unique(finals.keys().map(|k| k.learner));
    let devices = sorted_unique(finals.keys().map(|k| k.device));
    let dodge = |l: usize| {
        let i = learners.iter().position(|&x| x == l).unwrap_or(0) as f64;
        (i - (learners.len() as f64 - 1.0) / 2.0) * 0.005 * span
    };
    let mut values: Vec<f64> = finals
        .values()
        .filter_map(|f| f.accuracy)
        .flat_map(|s| [100.0 * (s.mean - s.std), 100.0 * (s.mean + s.std)])
        .collect();
    let any_all_diverged = finals
        .values()
        .any(|f| f.accuracy.is_none() && f.diverged > 0);
    if values.is_empty() {
        values.push(0.0);
    }
    // Stream points end with the accuracy on their last task.
    let streams = finals.keys().all(|k| run.stream_groups.contains(k));
    let mut y = accuracy_axis(
        values,
        if streams {
            "accuracy on the last task (%)"
        } else {
            "final test accuracy (%)"
        },
    );
    if any_all_diverged {
        // Room under the data for the × marks.
        let lo = (y.lo - 0.12 * (y.hi - y.lo)).max(0.0);
        y = linear_axis(lo, y.hi, 6, 0.0, y.desc);
    }
    let cross_y = y.lo + 0.04 * (y.hi - y.lo);
    let others: Vec<Option<usize>> = match other {
        Some(o) => sorted_unique(finals.keys().map(|k| k.sweep[o]))
            .into_iter()
            .map(Some)
            .collect(),
        None => vec![None],
    };
    let mut panels = Vec::new();
    for &d in &devices {
        for &ov in &others {
            let in_panel =
                |k: &GroupKey| k.device == d && ov.is_none_or(|v| k.sweep[other.unwrap()] == v);
            let mut items = Vec::new();
            for &l in &learners {
                let colour = colours[l];
                let mut pts = Vec::new();
                for (k, f) in finals.iter().filter(|(k, _)| k.learner == l && in_panel(k)) {
                    let px = pos[k.sweep[a]] + dodge(l);
                    match f.accuracy {
                        Some(s) => {
                            pts.push((px, 100.0 * s.mean));
                            if has_spread(&s) {
                                items.push(Item::ErrorBar {
                                    colour,
                                    x: px,
                                    lo: 100.0 * (s.mean - s.std),
                                    hi: 100.0 * (s.mean + s.std),
                                });
                            }
                        }
                        None if f.diverged > 0 => items.push(Item::Cross {
                            colour,
                            at: (px, cross_y),
                        }),
                        None => {}
                    }
                }
                pts.sort_by(|p, q| p.0.total_cmp(&q.0));
                if !pts.is_empty() {
                    items.push(Item::Line {
                        colour,
                        points: pts,
                        stroke: Stroke::Solid,
                        marker: Marker::Circle,
                    });
                }
            }
            if items.is_empty() {
                continue;
            }
            let title = match (ov, other) {
                (Some(v), Some(o)) => format!(
                    "{} · {} = {}",
                    run.devices[d],
                    run.axes[o].short_name(),
                    run.axes[o].labels[v]
                ),
                _ => run.devices[d].clone(),
            };
            panels.push(Panel {
                title,
                x: x.clone(),
                y: y.clone(),
                items,
                secondary: None,
            });
        }
    }
    if panels.is_empty() {
        return None;
    }
    let mut legend = learner_legend(
        run,
        colours,
        &learners,
        Sample::Line {
            stroke: Stroke::Solid,
            marker: Marker::Circle,
        },
    );
    let n = count_note(finals.values().filter_map(|f| f.accuracy.map(|s| s.n)));
    let mut notes = vec![format!(
        "Mean over seeds ({n} per point), error bars ±1 standard deviation; diverged seeds are left out of the mean."
    )];
    if any_all_diverged {
        legend.push(LegendEntry {
            label: "every seed diverged".into(),
            colour: RGBColor(60, 60, 60),
            sample: Sample::Cross,
        });
    }
    if axis.numbers.is_some() && x.ticks.first().is_some_and(|t| t.1 == "0") {
        notes.push(
            "Log scale; the value 0 is drawn one decade below the smallest positive value.".into(),
        );
    }
    let (cols, panel_size) = match other {
        Some(_) if others.len() <= 6 && panels.len() == devices.len() * others.len() => (
            others.len().max(1),
            if others.len() == 1 {
                (1200, 700)
            } else {
                (600, 480)
            },
        ),
        _ => layout(panels.len()),
    };
    let short = axis_file_name(run, a);
    Some(Figure {
        name: format!("accuracy_vs_{short}"),
        title: format!(
            "{} vs {} — {}",
            if streams {
                "Accuracy on the last task"
            } else {
                "Final test accuracy"
            },
            axis.short_name(),
            run.experiment
        ),
        legend,
        notes,
        panels,
        cols,
        panel_size,
    })
}

/// The name used in `accuracy_vs_<name>`: the last path segment, or the whole path when that
/// would collide with another axis or another figure.
pub fn axis_file_name(run: &Run, a: usize) -> String {
    let short = run.axes[a].short_name();
    let clash = run
        .axes
        .iter()
        .enumerate()
        .any(|(i, o)| i != a && o.short_name() == short)
        || matches!(short, "epoch" | "time");
    sanitize(if clash { &run.axes[a].path } else { short })
}

/// Test accuracy against the time after training (drift), for one sweep value combination:
/// one panel per device, one colour per learner, solid without and dashed with global drift
/// compensation, ±1 s.d. error bars.
pub fn accuracy_vs_time(run: &Run, combination: &[usize], colours: &[RGBColor]) -> Option<Figure> {
    let pick = |metric: &str| -> BTreeMap<GroupKey, Vec<(f64, Stats)>> {
        run.per_time(metric)
            .into_iter()
            .filter(|(k, _)| k.sweep == combination)
            .collect()
    };
    let plain = pick("drift_test_accuracy");
    let comp = pick("drift_test_accuracy_compensated");
    if plain.is_empty() && comp.is_empty() {
        return None;
    }
    let all = || plain.values().chain(comp.values()).flatten();
    let min_pos = all()
        .map(|(t, _)| *t)
        .filter(|&t| t > 0.0)
        .fold(f64::INFINITY, f64::min);
    let min_pos = if min_pos.is_finite() { min_pos } else { 1.0 };
    let zero_at = min_pos.log10().floor() - 1.0;
    let tpos = |t: f64| if t > 0.0 { t.log10() } else { zero_at };
    let has_zero = all().any(|(t, _)| *t <= 0.0);
    let lo = all().map(|(t, _)| tpos(*t)).fold(f64::INFINITY, f64::min) - 0.3;
    let hi = all()
        .map(|(t, _)| tpos(*t))
        .fold(f64::NEG_INFINITY, f64::max)
        + 0.3;
    let devices = sorted_unique(plain.keys().chain(comp.keys()).map(|k| k.device));
    let learners = sorted_unique(plain.keys().chain(comp.keys()).map(|k| k.learner));
    let (cols, panel_size) = layout(devices.len());
    let plot_w = panel_size.0 as f64 - 150.0;
    let mut x = time_axis(lo, hi, plot_w, "time after training (s, log scale)".into());
    if has_zero {
        x.ticks.retain(|t| t.0 > zero_at + 0.5);
        x.ticks.insert(0, (zero_at, "0".into()));
    }
    let y = accuracy_axis(
        all().flat_map(|(_, s)| [100.0 * (s.mean - s.std), 100.0 * (s.mean + s.std)]),
        "test accuracy (%)",
    );
    let k_total = 2.0 * learners.len() as f64;
    let dodge = |l: usize, compensated: bool| {
        let i = learners.iter().position(|&x| x == l).unwrap_or(0) as f64 * 2.0
            + if compensated { 1.0 } else { 0.0 };
        (i - (k_total - 1.0) / 2.0) * 0.02
    };
    let panels = devices
        .iter()
        .map(|&d| {
            let mut items = Vec::new();
            for (curves, compensated) in [(&plain, false), (&comp, true)] {
                for (k, c) in curves.iter().filter(|(k, _)| k.device == d) {
                    let colour = colours[k.learner];
                    let off = dodge(k.learner, compensated);
                    for (t, s) in c.iter().filter(|(_, s)| has_spread(s)) {
                        items.push(Item::ErrorBar {
                            colour,
                            x: tpos(*t) + off,
                            lo: 100.0 * (s.mean - s.std),
                            hi: 100.0 * (s.mean + s.std),
                        });
                    }
                    items.push(Item::Line {
                        colour,
                        points: c
                            .iter()
                            .map(|(t, s)| (tpos(*t) + off, 100.0 * s.mean))
                            .collect(),
                        stroke: if compensated {
                            Stroke::Dashed
                        } else {
                            Stroke::Solid
                        },
                        marker: if compensated {
                            Marker::Square
                        } else {
                            Marker::Circle
                        },
                    });
                }
            }
            Panel {
                title: run.devices[d].clone(),
                x: x.clone(),
                y: y.clone(),
                items,
                secondary: None,
            }
        })
        .collect::<Vec<_>>();
    let mut legend = learner_legend(run, colours, &learners, Sample::Patch { alpha: 1.0 });
    let grey = RGBColor(60, 60, 60);
    if !plain.is_empty() {
        legend.push(LegendEntry {
            label: "no compensation".into(),
            colour: grey,
            sample: Sample::Line {
                stroke: Stroke::Solid,
                marker: Marker::Circle,
            },
        });
    }
    if !comp.is_empty() {
        legend.push(LegendEntry {
            label: "global drift compensation".into(),
            colour: grey,
            sample: Sample::Line {
                stroke: Stroke::Dashed,
                marker: Marker::Square,
            },
        });
    }
    let n = count_note(all().map(|(_, s)| s.n));
    Some(Figure {
        name: format!("accuracy_vs_time{}", combination_suffix(run, combination)),
        title: with_combination(
            run,
            format!("Test accuracy after training (drift) — {}", run.experiment),
            combination,
        ),
        legend,
        notes: vec![format!(
            "Mean over seeds ({n} per point), error bars ±1 standard deviation; points slightly offset in time so the bars do not overlap."
        )],
        panels,
        cols,
        panel_size,
    })
}

/// Energy per training sample and per inference: two panels (log scale), bars by learner
/// grouped by device. Learners with zero or no recorded energy on a device get no bar (a note
/// says which).
pub fn energy(run: &Run, colours: &[RGBColor]) -> Option<Figure> {
    let e = run.energy();
    let train_all: Vec<Stats> = e.values().filter_map(|v| v.0).collect();
    let infer_all: Vec<Stats> = e.values().filter_map(|v| v.1).collect();
    if train_all.is_empty() && infer_all.is_empty() {
        return None;
    }
    let learners = sorted_unique(e.keys().map(|k| k.0));
    let devices = sorted_unique(e.keys().map(|k| k.1));
    let slot = 0.8 / learners.len() as f64;
    let label_w = devices
        .iter()
        .map(|&d| text_width(&run.devices[d], TICK_PX, false))
        .max()
        .unwrap_or(0);
    let group_px = (learners.len() as i32 * 34).max(label_w + 24);
    let panel_w = (devices.len() as i32 * group_px + 200).max(600) as u32;
    // (learner, device, panel) without a bar.
    let mut missing: Vec<(usize, usize, &str)> = Vec::new();
    let mut empty_panels: Vec<&str> = Vec::new();
    let mut panels = Vec::new();
    for (which, title, desc) in [
        (0, "Training", "energy per training sample (J)"),
        (1, "Inference", "energy per inference (J)"),
    ] {
        let get = |v: &(Option<Stats>, Option<Stats>)| if which == 0 { v.0 } else { v.1 };
        let stats: Vec<Stats> = e.values().filter_map(get).collect();
        if stats.is_empty() {
            empty_panels.push(title);
            continue;
        }
        let lo_v = stats
            .iter()
            .map(|s| {
                if s.mean - s.std > 0.0 {
                    s.mean - s.std
                } else {
                    s.mean
                }
            })
            .fold(f64::INFINITY, f64::min);
        let hi_v = stats.iter().map(|s| s.mean + s.std).fold(0.0, f64::max);
        let lo = lo_v.log10() - 0.35;
        let hi = hi_v.log10() + 0.25;
        let (lo, hi) = if hi - lo < 1.0 {
            let mid = (lo + hi) / 2.0;
            (mid - 0.5, mid + 0.5)
        } else {
            (lo, hi)
        };
        let y = log_axis(lo, hi, desc.into());
        let x = AxisSpec {
            lo: -0.5,
            hi: devices.len() as f64 - 0.5,
            ticks: devices
                .iter()
                .enumerate()
                .map(|(i, &d)| (i as f64, run.devices[d].clone()))
                .collect(),
            minor: Vec::new(),
            desc: "device".into(),
            grid: false,
        };
        let mut items = Vec::new();
        for (gi, &d) in devices.iter().enumerate() {
            for (li, &l) in learners.iter().enumerate() {
                let Some(v) = e.get(&(l, d)) else { continue };
                let x0 = gi as f64 - 0.4 + li as f64 * slot;
                match get(v) {
                    Some(s) => {
                        items.push(Item::Bar {
                            colour: colours[l],
                            x: (x0 + 0.08 * slot, x0 + 0.92 * slot),
                            y: (lo, s.mean.log10()),
                        });
                        if has_spread(&s) {
                            let low = if s.mean - s.std > 0.0 {
                                (s.mean - s.std).log10()
                            } else {
                                lo
                            };
                            items.push(Item::ErrorBar {
                                colour: RGBColor(30, 30, 30),
                                x: x0 + slot / 2.0,
                                lo: low,
                                hi: (s.mean + s.std).log10(),
                            });
                        }
                    }
                    None => missing.push((l, d, title)),
                }
            }
        }
        panels.push(Panel {
            title: title.into(),
            x,
            y,
            items,
            secondary: None,
        });
    }
    let mut legend = learner_legend(run, colours, &learners, Sample::Patch { alpha: 1.0 });
    let n = count_note(train_all.iter().chain(&infer_all).map(|s| s.n));
    let over = if run.axes.is_empty() {
        "seeds"
    } else {
        "seeds and sweep values"
    };
    let mut notes = vec![format!(
        "Bars: mean over {over} ({n}), error bars ±1 standard deviation; log scale."
    )];
    for title in &empty_panels {
        notes.push(format!("{title}: no energy recorded by any learner."));
    }
    // Name each learner without a bar once: on every device, or where.
    let mut parts = Vec::new();
    for (entry, &l) in legend.iter_mut().zip(&learners) {
        let mine: Vec<&(usize, usize, &str)> = missing.iter().filter(|m| m.0 == l).collect();
        if mine.is_empty() {
            continue;
        }
        let devices_of_l = e.keys().filter(|k| k.0 == l).count();
        if mine.len() == devices_of_l * panels.len() {
            entry.label.push_str(" (no bar)");
            parts.push(format!("{} (every device)", run.learners[l]));
        } else {
            let places: Vec<String> = mine
                .iter()
                .map(|m| format!("{}, {}", run.devices[m.1], m.2.to_lowercase()))
                .collect();
            parts.push(format!("{} ({})", run.learners[l], places.join("; ")));
        }
    }
    if !parts.is_empty() {
        notes.push(format!(
            "No bar where the energy is zero or not recorded (a log scale cannot show 0): {}.",
            parts.join(", ")
        ));
    }
    let cols = panels.len();
    Some(Figure {
        name: "energy".into(),
        title: format!("Energy per sample — {}", run.experiment),
        legend,
        notes,
        panels,
        cols,
        panel_size: (panel_w, 560),
    })
}

/// Every figure of a run, in order, and notes for the summary (figures skipped and why).
pub fn all_figures(run: &Run) -> (Vec<Figure>, Vec<String>) {
    let colours = learner_colours(&run.learners);
    let mut figs = Vec::new();
    let mut notes = Vec::new();
    let combos = run.combinations();
    let limit = MAX_COMBINATION_FIGURES;
    let streams_only = run.is_stream() && run.points.iter().all(|p| p.stream);
    if combos.len() > limit && !streams_only {
        notes.push(format!(
            "accuracy_vs_epoch and accuracy_vs_time are drawn for the first {limit} of {} sweep value combinations only.",
            combos.len()
        ));
    }
    figs.extend(
        combos
            .iter()
            .take(limit)
            .filter_map(|c| accuracy_vs_epoch(run, c, &colours)),
    );
    if run.is_stream() {
        let (stream_figs, stream_notes) = super::lifetime::stream_figures(run, &colours);
        figs.extend(stream_figs);
        notes.extend(stream_notes);
    }
    figs.extend((0..run.axes.len()).filter_map(|a| accuracy_vs_axis(run, a, &colours)));
    figs.extend(
        combos
            .iter()
            .take(limit)
            .filter_map(|c| accuracy_vs_time(run, c, &colours)),
    );
    match energy(run, &colours) {
        Some(f) => figs.push(f),
        None => notes.push("No energy figure: no point recorded a positive energy.".into()),
    }
    (figs, notes)
}

/// Writes `fig` into `out_dir` in each format; returns the files written.
pub fn save(fig: &Figure, out_dir: &Path, formats: &[Format]) -> Result<Vec<PathBuf>, PlotError> {
    register_fonts().map_err(|message| PlotError::Write {
        path: out_dir.to_path_buf(),
        message,
    })?;
    let size = fig.size();
    let mut written = Vec::new();
    for &f in formats {
        let path = out_dir.join(format!("{}.{}", fig.name, f.extension()));
        let result = match f {
            Format::Svg => {
                let root = SVGBackend::new(&path, size).into_drawing_area();
                fig.draw(&root)
                    .and_then(|_| root.present().map_err(|e| e.to_string()))
            }
            Format::Png => {
                let root = BitMapBackend::new(&path, size).into_drawing_area();
                fig.draw(&root)
                    .and_then(|_| root.present().map_err(|e| e.to_string()))
            }
        };
        result.map_err(|message| PlotError::Write {
            path: path.clone(),
            message,
        })?;
        written.push(path);
    }
    Ok(written)
}

/// Draws every figure of `run` into `out_dir`; returns the files written and notes for the
/// summary.
pub fn draw_all(
    run: &Run,
    out_dir: &Path,
    formats: &[Format],
) -> Result<(Vec<PathBuf>, Vec<String>), PlotError> {
    register_fonts().map_err(|message| PlotError::Write {
        path: out_dir.to_path_buf(),
        message,
    })?;
    let (figs, notes) = all_figures(run);
    let mut written = Vec::new();
    for f in &figs {
        written.extend(save(f, out_dir, formats)?);
    }
    Ok((written, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_fonts_load() {
        register_fonts().unwrap();
        assert!(text_width("accuracy", 20, false) > 40);
    }

    #[test]
    fn nice_ticks_are_round() {
        let (t, step) = nice_ticks(0.0, 100.0, 6, 0.0);
        assert_eq!(step, 20.0);
        assert_eq!(t, vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        let (t, _) = nice_ticks(0.5, 1.5, 8, 1.0);
        assert_eq!(t, vec![1.0]);
    }

    #[test]
    fn powers_read_well() {
        assert_eq!(fmt_power(1, -9, false), "10⁻⁹");
        assert_eq!(fmt_power(5, -9, false), "5·10⁻⁹");
        assert_eq!(fmt_power(1, -2, true), "0.01");
        assert_eq!(fmt_power(5, 3, true), "5000");
    }

    #[test]
    fn built_in_learners_keep_their_colour() {
        let a = learner_colours(&["fa".into(), "bp-digital".into()]);
        let b = learner_colours(&["sg".into(), "mine".into(), "fa".into()]);
        assert_eq!(a[0], b[2]);
        assert_ne!(b[1], b[0]);
        assert_ne!(b[1], b[2]);
    }
}
